"""The image's HEALTHCHECK: GET /healthz on gunicorn's port inside the container, exit 0 on a 200.

It names a host Dockwise trusts: the first of DOCKWISE_TRUSTED_HOSTS when that is set (a configured list replaces
the local names), else localhost. Stdlib only, run by the image's Python: the image has no curl.
"""

import http.client
import os
import sys

TIMEOUT_SECONDS = 4.0


def trusted_host() -> str:
    listed = [name.strip() for name in os.environ.get("DOCKWISE_TRUSTED_HOSTS", "").split(",") if name.strip()]
    return listed[0].lstrip(".") if listed else "localhost"  # ".example.org" also trusts example.org itself


def main() -> int:
    try:
        port = int(os.environ.get("PORT", "8000"))
    except ValueError:
        print(f"PORT is {os.environ['PORT']!r}, not a port number")
        return 1
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", "/healthz", headers={"Host": trusted_host()})
        response = connection.getresponse()
        body = response.read(200).decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException, ValueError) as error:  # refused, timed out, not HTTP, bad port
        print(f"/healthz on 127.0.0.1:{port}: {type(error).__name__}: {error}".splitlines()[0])
        return 1
    finally:
        connection.close()
    print(f"/healthz: {response.status} {body}".splitlines()[0])
    return 0 if response.status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
