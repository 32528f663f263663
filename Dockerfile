# One image for every stoppoc service: `stoppoc run <service>` picks which.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    STOPPOC_HTTP_HOST=0.0.0.0 STOPPOC_HTTP_PORT=8080
WORKDIR /app

COPY pyproject.toml README.md ./
COPY client ./client
COPY shared ./shared
COPY services ./services
COPY cli ./cli
# /run/stoppoc: where compose's secrets step writes the passwords (a volume it owns); no secret is in the image.
RUN pip install . && useradd --system --uid 10001 stoppoc \
    && mkdir -p /run/stoppoc/secrets /run/stoppoc/rabbitmq && chown -R stoppoc /run/stoppoc

USER stoppoc
# /health/live, /health/ready and /metrics
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["stoppoc"]
CMD ["run", "all"]
