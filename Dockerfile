# The newsletter scheduler in a container: `docker build -t newsletter .`
#   docker run -d --name newsletter -v /srv/newsletter:/data \
#     -e OPENAI_API_KEY -e NEWSLETTER_SMTP_PASSWORD newsletter
# /data holds config.toml, subscribers/ and var/ (the SQLite history, outbox, logs). On first
# start with an empty volume, the shipped config and subscribers are copied there.
# `docker stop` sends SIGTERM: the message in flight is finished, then it exits 0.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    NEWSLETTER_CONFIG=/data/config.toml

WORKDIR /app
# Dependencies first (a layer that survives code changes), then the code. The package finds
# templates/ next to itself, so it is installed in place (-e) from /app.
COPY pyproject.toml README.md ./
RUN mkdir newsletter && touch newsletter/__init__.py \
    && pip install -e . tzdata \
    && rm -rf newsletter
COPY newsletter ./newsletter
COPY templates ./templates
COPY config.toml ./config.toml
COPY subscribers ./subscribers
RUN pip install --no-deps -e . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin newsletter \
    && mkdir -p /data && chown newsletter:newsletter /data \
    && printf '#!/bin/sh\nset -e\n[ -f /data/config.toml ] || cp /app/config.toml /data/config.toml\n[ -d /data/subscribers ] || cp -r /app/subscribers /data/subscribers\nexec "$@"\n' > /usr/local/bin/newsletter-entrypoint \
    && chmod 755 /usr/local/bin/newsletter-entrypoint

USER newsletter
WORKDIR /data
VOLUME ["/data"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5m --timeout=30s CMD ["newsletter", "status"]
ENTRYPOINT ["/usr/local/bin/newsletter-entrypoint"]
CMD ["newsletter", "schedule"]
