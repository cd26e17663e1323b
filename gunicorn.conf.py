"""gunicorn's settings for Dockwise, read from the repository root (scripts/run, harness.server and a plain
`gunicorn serve:app` run there): gunicorn reads no forwarded header itself.

Dockwise decides what to trust from a proxy (DOCKWISE_PROXY_FIX, DOCKWISE_PUBLIC_URL, DOCKWISE_TRUSTED_HOSTS).
gunicorn's own defaults would trust X-Forwarded-Proto, X-Forwarded-Ssl and X-Forwarded-Protocol (and the SCRIPT_NAME
and PATH_INFO headers) from 127.0.0.1, ::1 and any Unix socket peer, so any local client could switch HSTS and the
Secure cookie on, or move the site's path, whatever DOCKWISE_PROXY_FIX says. Headers whose names hold an underscore
(X_Forwarded_Proto) are dropped: gunicorn's `header_map = "drop"` default, kept here on purpose.
"""

forwarded_allow_ips = ""
secure_scheme_headers = {}
forwarder_headers = ""
header_map = "drop"
