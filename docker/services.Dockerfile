# syntax=docker/dockerfile:1
# Image for the seven Gristmill gRPC services. One image, the service picked by the argument:
#   docker run gristmill/services:TAG services.ingestion
# Build from the repository root:
#   docker build -f docker/services.Dockerfile -t gristmill/services:0.1.0 .

# Pinned Python patch release on Debian bookworm; bump deliberately together with the lock files.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- builder: resolve nothing, install exactly requirements-runtime.lock into /opt/venv ----
FROM ${PYTHON_IMAGE} AS builder
# uv is only needed here; it never reaches the final image.
RUN pip install --no-cache-dir uv==0.9.0
# Compile .pyc at build time (the runtime root filesystem is read-only), copy instead of hard-linking
# out of the cache, never download a Python: use the base image's interpreter.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    VIRTUAL_ENV=/opt/venv
WORKDIR /src
# Dependencies first, so code changes do not reinstall torch and friends.
COPY pyproject.toml requirements-runtime.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv venv /opt/venv && uv pip sync --require-hashes requirements-runtime.lock
# Then the project itself, installed as a regular (non-editable) package so /src is not needed later.
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --no-deps .

# ---- final: interpreter + venv, no compilers, no uv, non-root ----
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="gristmill-services" \
      org.opencontainers.image.description="Gristmill gRPC services (python -m services.<name>)" \
      org.opencontainers.image.licenses="Apache-2.0"
# A passwd entry for the numeric user: some libraries call getpwuid() and fail without one.
RUN groupadd --system --gid 10001 gristmill \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin gristmill \
    && mkdir -p /var/lib/gristmill \
    && chown 10001:10001 /var/lib/gristmill
COPY --from=builder /opt/venv /opt/venv
# HOME, caches and matplotlib config go to /tmp, which Kubernetes mounts as an emptyDir.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    MPLCONFIGDIR=/tmp/matplotlib \
    GRISTMILL_STATE_DIR=/var/lib/gristmill
USER 10001:10001
WORKDIR /var/lib/gristmill
# gRPC ports of the seven services and their metrics ports (documentation only).
EXPOSE 50051-50057 9101-9107
# The Deployment passes the module as the argument, e.g. args: ["services.training"].
ENTRYPOINT ["python", "-m"]
CMD ["services.ingestion"]
