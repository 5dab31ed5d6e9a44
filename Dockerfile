# The Logwarden image: one image for every fleet process (ingest, push, worker, beat,
# migrate); docker-compose.yml picks the command. Dependencies come only from the
# hash-pinned requirements.lock.
FROM python:3.11-slim AS deps

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/requirements.lock


FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=deps /opt/venv /opt/venv
# The `logwarden` command, as `pip install .` would write it, without needing a build
# backend that the lock file does not pin.
RUN printf '#!/opt/venv/bin/python\nimport sys\nfrom workers.cli import main\nsys.exit(main())\n' \
        > /opt/venv/bin/logwarden \
    && chmod 755 /opt/venv/bin/logwarden \
    && useradd --system --uid 10001 --home-dir /app logwarden \
    && mkdir -p /var/lib/logwarden \
    && chown logwarden /var/lib/logwarden

WORKDIR /app
COPY pipeline pipeline
COPY alerting alerting
COPY workers workers
COPY observability observability
COPY migrations migrations
COPY pyproject.toml ./

USER logwarden
ENTRYPOINT ["logwarden"]
CMD ["--help"]
