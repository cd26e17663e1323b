#!/bin/sh
# The image's entrypoint: DOCKWISE_DATABASE_URL_FILE names a file holding the rooms' database URL (a Docker or
# Kubernetes secret: the URL holds a password), read into DOCKWISE_DATABASE_URL; then the command runs as PID 1.
set -eu
if [ -n "${DOCKWISE_DATABASE_URL_FILE:-}" ]; then
    if [ -n "${DOCKWISE_DATABASE_URL:-}" ]; then
        echo "Dockwise cannot start: DOCKWISE_DATABASE_URL and DOCKWISE_DATABASE_URL_FILE are both set; keep one." >&2
        exit 3
    fi
    if ! DOCKWISE_DATABASE_URL=$(cat -- "$DOCKWISE_DATABASE_URL_FILE"); then
        echo "Dockwise cannot start: DOCKWISE_DATABASE_URL_FILE names $DOCKWISE_DATABASE_URL_FILE, which cannot be" \
             "read by uid $(id -u): mount the secret there, readable by that user." >&2
        exit 3
    fi
    export DOCKWISE_DATABASE_URL   # $(...) dropped the file's trailing newlines
    unset DOCKWISE_DATABASE_URL_FILE
fi
exec "$@"
