"""Security headers on every response (error pages too) and cookies that follow the request's scheme."""

from __future__ import annotations

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: Flask-WTF's CSRF check over HTTPS compares the Referer with the host.
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
HSTS = "max-age=63072000; includeSubDomains"


class SchemeAwareSessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure exactly when the request came over HTTPS (directly or via a TLS proxy)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # Most requests carry no session cookie (no page sets one but a form that changes state): skip building
        # the signing serializer for them, which Flask would do on every request.
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SecureCookieSession, response: Response) -> None:
        # Nothing to set, delete or vary on (Flask would still work out every cookie setting first).
        if not session and not session.modified and not session.accessed:
            return
        super().save_session(app, session, response)


_HEADER_KEYS = {name.lower() for name in HEADERS}


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    # One pass over what the response has (on every response: setdefault would scan the headers once per name).
    present = {key.lower() for key, _ in headers} & _HEADER_KEYS
    headers.extend((name, value) for name, value in HEADERS.items() if name.lower() not in present)
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = HSTS
    return response


def init_security(app: Flask) -> None:
    app.session_interface = SchemeAwareSessionInterface()
    app.after_request(add_security_headers)
