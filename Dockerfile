# Dockwise's image: gunicorn serving serve:app as a non-root user (uid 10001), fit for a read-only root filesystem.
#
#   docker build -t dockwise .
#   docker run --read-only --tmpfs /tmp -v dockwise-instance:/app/instance -p 127.0.0.1:8000:8000 dockwise
#
# Writable at run time, and nothing else: /tmp (a tmpfs: gunicorn's worker files and, by default, DOCKWISE_STATE_DIR)
# and /app/instance (a volume: the generated secret key and the SQLite rooms database), unless DOCKWISE_SECRET_KEY_FILE
# and DOCKWISE_DATABASE_URL (or DOCKWISE_DATABASE_URL_FILE) point elsewhere.
#
# Build arguments:
#   BASE_IMAGE  Debian bookworm with Python 3.11 and its venv module; the default is the official slim Python image.
#               Where no registry can be reached, a local image (scripts/container-check imports one it debootstraps).
#   WHEELS      a folder of the build context holding a wheel for every line of constraints.txt, installed with
#               --no-index (no network at all); unset, the same pinned versions come from PyPI.
#   VERSION, REVISION  the OCI labels' version and revision, and DOCKWISE_VERSION in the image's environment.
#   SOURCE      the OCI label naming the repository the image is built from (empty unless given).
# Plain Dockerfile syntax, no `# syntax=` line: the classic builder and BuildKit both build it, with no registry.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ARG WHEELS=
COPY constraints.txt /build/constraints.txt
# COPY needs a source that exists: without WHEELS it copies constraints.txt once more, which nothing reads.
COPY ${WHEELS:-constraints.txt} /build/wheels/
# constraints.txt is the whole set, transitive packages included, so it is installed as the requirements themselves;
# pip check proves nothing is missing. pip and setuptools leave the image: nothing installs at run time.
RUN set -eu; \
    python3 -m venv /opt/dockwise; \
    if [ -n "$WHEELS" ]; then set -- --no-index --find-links /build/wheels; fi; \
    /opt/dockwise/bin/python -m pip install --no-cache-dir --disable-pip-version-check "$@" -r /build/constraints.txt; \
    /opt/dockwise/bin/python -m pip check; \
    /opt/dockwise/bin/python -m pip uninstall --yes --quiet setuptools pip

FROM ${BASE_IMAGE}
ARG BASE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=
ARG SOURCE=
LABEL org.opencontainers.image.title="Dockwise" \
      org.opencontainers.image.description="Docker alone, Compose / Swarm, or Kubernetes: a questionnaire with a rule engine that explains itself" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
RUN groupadd --system --gid 10001 dockwise \
    && useradd --system --uid 10001 --gid dockwise --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin dockwise
COPY --from=build /opt/dockwise /opt/dockwise
WORKDIR /app
# The code is root's and read-only to Dockwise's user. gunicorn reads ./gunicorn.conf.py from this directory.
COPY app.py serve.py gunicorn.conf.py rules.yaml ./
COPY recommender/ recommender/
COPY rooms/ rooms/
COPY web/ web/
COPY templates/ templates/
COPY static/ static/
COPY deploy/docker/healthcheck.py /usr/local/lib/dockwise/
# Bytecode compiled now: a read-only filesystem cannot take __pycache__ later. The instance folder is Dockwise's
# own, so that a named volume mounted there starts owned by it.
RUN /opt/dockwise/bin/python -m compileall -q /app /usr/local/lib/dockwise \
    && install -d -o dockwise -g dockwise -m 0700 /app/instance
# PORT and WEB_CONCURRENCY are gunicorn's own defaults for --bind (0.0.0.0:$PORT) and --workers; GUNICORN_CMD_ARGS
# takes any other flag (e.g. "--timeout 60"). Flags written in CMD would override all three. No ENTRYPOINT: Dockwise
# reads DOCKWISE_SECRET_KEY_FILE and DOCKWISE_DATABASE_URL_FILE itself, so `docker exec … flask rooms purge` sees the
# same settings as gunicorn, and a command given to `docker run` replaces CMD.
ENV PATH=/opt/dockwise/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLASK_APP=app \
    PORT=8000 \
    WEB_CONCURRENCY=2 \
    DOCKWISE_VERSION=${VERSION}
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "/usr/local/lib/dockwise/healthcheck.py"]
CMD ["gunicorn", "--preload", "--no-control-socket", "serve:app"]
