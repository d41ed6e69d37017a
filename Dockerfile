# syntax=docker/dockerfile:1
# The operator image: the locked runtime dependencies (with hashes) in a venv, run as non-root.
# BASE is any Debian-like image with python3.11 and its venv module: python:3.11-slim for users;
# the local tests build from a debootstrap base (hack/build-image.sh), as no registry is reachable.
ARG BASE=python:3.11-slim
# The version and the commit, from git (a build context has no .git): hack/build-image.sh and
# make release pass them; a build without them says so in the version.
ARG VERSION=0.0.0+unknown
ARG REVISION=unknown
FROM ${BASE} AS build
ARG VERSION
RUN python3 -m venv /uv && /uv/bin/pip install --no-cache-dir uv==0.13.9
WORKDIR /src
# Dependencies first, from the lock alone: this layer is reused until uv.lock changes.
COPY pyproject.toml uv.lock ./
RUN /uv/bin/uv export --locked --no-dev --no-emit-project --format requirements-txt -o requirements.txt \
 && python3 -m venv /venv \
 && /venv/bin/pip install --no-cache-dir --require-hashes -r requirements.txt
COPY README.md LICENSE ./
COPY src ./src
RUN SETUPTOOLS_SCM_PRETEND_VERSION="${VERSION}" \
    /venv/bin/pip install --no-cache-dir --no-deps . \
 && /venv/bin/python -m compileall -q /venv

FROM ${BASE}
ARG VERSION
ARG REVISION
LABEL org.opencontainers.image.title="nodewave" \
      org.opencontainers.image.description="Kubernetes operator: a workload on every node a selector picks, rolled out in waves with health gates and automatic rollback" \
      org.opencontainers.image.source="https://github.com/nodewave/nodewave" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8000 8080
ENTRYPOINT ["nodewave"]
CMD ["run"]
