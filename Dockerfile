# syntax=docker/dockerfile:1
# The operator image: the locked runtime dependencies (with hashes) in a venv, run as non-root.
FROM python:3.11-slim AS build
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
RUN uv export --locked --no-dev --no-emit-project --format requirements-txt -o requirements.txt \
 && python -m venv /venv \
 && /venv/bin/pip install --no-cache-dir --require-hashes -r requirements.txt \
 && /venv/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11-slim
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8000 8080
ENTRYPOINT ["nodewave"]
CMD ["run"]
