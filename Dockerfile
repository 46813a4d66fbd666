# syntax=docker/dockerfile:1
#
# ftjanitor container image.
#
#   docker build -t ghcr.io/example/ftjanitor:0.2.0 .
#   docker run --rm ghcr.io/example/ftjanitor:0.2.0 validate /etc/ftjanitor/jobs
#
# Job files are mounted read-only at /etc/ftjanitor/jobs; state, audit log and metrics
# files go under /var/lib/ftjanitor (owned by the image's user), or into PostgreSQL with
# `state: postgresql://...`. API keys and PGPASSWORD come from the environment at run
# time: nothing secret is copied into the image. In production, pin both base images by
# digest (python:3.11-slim@sha256:...).

# --- builder: the package and its extras, installed into a self-contained venv ----------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# The venv lives at the same path in both stages, so its scripts' #! lines stay valid.
RUN python -m venv /opt/ftjanitor

WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY runner ./runner
# bedrock = boto3, postgres = psycopg[binary]: both ship manylinux wheels, no compiler.
RUN /opt/ftjanitor/bin/pip install '.[bedrock,postgres]' \
 && /opt/ftjanitor/bin/ftjanitor --version

# --- runtime: python:3.11-slim, the venv, a non-root user ---------------------------------
FROM python:3.11-slim AS runtime

ARG VERSION=0.2.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="ftjanitor" \
      org.opencontainers.image.description="Declarative cleanup jobs for fine-tuned models" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/example/ftjanitor" \
      org.opencontainers.image.documentation="https://github.com/example/ftjanitor/tree/main/deploy/kubernetes" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim"

# A fixed numeric UID/GID, so Kubernetes' runAsNonRoot can check it and fsGroup matches.
RUN groupadd --system --gid 10001 ftjanitor \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/ftjanitor --shell /usr/sbin/nologin ftjanitor \
 && install -d -m 0755 /etc/ftjanitor /etc/ftjanitor/jobs \
 && install -d -m 0700 -o 10001 -g 10001 /var/lib/ftjanitor /var/lib/ftjanitor/metrics

COPY --from=builder /opt/ftjanitor /opt/ftjanitor

ENV PATH="/opt/ftjanitor/bin:${PATH}" \
    HOME=/var/lib/ftjanitor \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /var/lib/ftjanitor
USER 10001:10001

# `schedule --listen 0.0.0.0:9108` serves /metrics, /healthz and /readyz here.
EXPOSE 9108

ENTRYPOINT ["ftjanitor"]
CMD ["--help"]
