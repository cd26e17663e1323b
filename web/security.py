"""Dockwise's edge: which Host and forwarded headers are trusted, the public URL, and the headers every response
carries (error pages too): security headers, Cache-Control, Vary; cookies that follow the request's scheme.

Cache-Control, by kind of response (a view may set its own, as the questionnaire and static files do):
- errors (4xx, 5xx) and /healthz: `no-store` — never kept, never shown again from a cache;
- everything else: `no-cache` — a cache may keep it but asks again each time, because the rules (and so every page,
  the API's answers and the canonical links redirects point at) can change at any moment. The questionnaire and the
  static files (their URLs are not versioned) carry an ETag, so asking again usually costs a 304.
"""

from __future__ import annotations

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wsgi import get_host

from .settings import PublicURL

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
_HEADER_ITEMS = [(name.lower(), name, value) for name, value in HEADERS.items()]
NO_CACHE = "no-cache"
NO_STORE = "no-store"
FORWARDED = ("X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port")
SCHEMES = frozenset(("http", "https"))
BAD_FORWARDED_PROTO = ("The proxy in front of this site sent an X-Forwarded-Proto that is neither http nor https. If "
                       "you run this site, make the proxy send its own scheme (nginx: X-Forwarded-Proto $scheme).")


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


class PublicOrigin:
    """WSGI middleware: a request with a trusted Host (what the client, or the trusted proxy, sent) is seen as made
    to the public URL — its scheme, host and path prefix — so every link, redirect and Flask-WTF's Referer check use
    it whatever the proxy passed on. An untrusted Host or a bad forwarded scheme is left as it is, for Flask to
    refuse. A proxy may pass the path with or without the prefix."""

    def __init__(self, app, public: PublicURL, trusted_hosts: list[str]):
        self.app, self.public, self.trusted_hosts = app, public, trusted_hosts

    def __call__(self, environ, start_response):
        if environ.get("wsgi.url_scheme") in SCHEMES and self._host_is_trusted(environ):
            prefix = self.public.prefix
            path = environ.get("PATH_INFO", "")
            if prefix and (path == prefix or path.startswith(prefix + "/")):
                environ["PATH_INFO"] = path[len(prefix):]
            environ["SCRIPT_NAME"] = prefix
            environ["wsgi.url_scheme"] = self.public.scheme
            environ["HTTP_HOST"] = self.public.host
        return self.app(environ, start_response)

    def _host_is_trusted(self, environ) -> bool:
        try:
            get_host(environ, self.trusted_hosts)  # the check Flask makes with TRUSTED_HOSTS
        except SecurityError:
            return False
        return True


def _policy_headers(vary_forwarded: bool):
    """The after-request hook adding the security headers, HSTS over HTTPS, Cache-Control and (when forwarded headers
    decide the scheme and host) Vary."""
    def add_policy_headers(response: Response) -> Response:
        headers = response.headers
        # One pass over what the response has (on every response: setdefault would scan the headers once per name).
        present = {key.lower() for key, _ in headers}
        added = [(name, value) for key, name, value in _HEADER_ITEMS if key not in present]
        never_kept = response.status_code >= 400 or request.endpoint == "web.healthz"
        if "cache-control" not in present:
            added.append(("Cache-Control", NO_STORE if never_kept else NO_CACHE))
        elif never_kept:
            headers["Cache-Control"] = NO_STORE
        headers.extend(added)
        if request.is_secure:
            headers["Strict-Transport-Security"] = HSTS
        if vary_forwarded:
            response.vary.update(FORWARDED)
        return response

    return add_policy_headers


def init_security(app: Flask, public: PublicURL | None) -> None:
    """Trust forwarded headers from PROXY_FIX proxies, apply the public URL, and add the headers to every response."""
    hops = app.config["PROXY_FIX"]
    if public is not None:
        app.wsgi_app = PublicOrigin(app.wsgi_app, public, app.config["TRUSTED_HOSTS"])
    if hops:
        # Outermost: the forwarded values are applied first, then checked (by PublicOrigin and Flask) like any other.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    app.session_interface = SchemeAwareSessionInterface()
    app.after_request(_policy_headers(vary_forwarded=bool(hops) and public is None))
