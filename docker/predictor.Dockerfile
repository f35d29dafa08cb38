# syntax=docker/dockerfile:1
# Image for the KServe predictor (python -m services.serving): REST 8080, gRPC 8081.
# KServe's ServingRuntime passes --model_name, --model_dir, --http_port and --grpc_port as arguments.
# Build from the repository root:
#   docker build -f docker/predictor.Dockerfile -t gristmill/predictor:0.1.0 .

# Pinned Python patch release on Debian bookworm; keep equal to docker/services.Dockerfile.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- builder: install exactly requirements-runtime.lock into /opt/venv ----
FROM ${PYTHON_IMAGE} AS builder
RUN pip install --no-cache-dir uv==0.9.0
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    VIRTUAL_ENV=/opt/venv
WORKDIR /src
COPY pyproject.toml requirements-runtime.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv venv /opt/venv && uv pip sync --require-hashes requirements-runtime.lock
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --no-deps .

# ---- final: interpreter + venv, no compilers, no uv, non-root ----
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="gristmill-predictor" \
      org.opencontainers.image.description="Gristmill KServe predictor (python -m services.serving)" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 gristmill \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin gristmill
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    MPLCONFIGDIR=/tmp/matplotlib
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080 8081
ENTRYPOINT ["python", "-m", "services.serving"]
CMD ["--http_port=8080", "--grpc_port=8081"]
