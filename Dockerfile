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
# Dependencies first (a layer that survives code changes), then the package itself (templates,
# prompts and the sample day are package data inside it).
COPY pyproject.toml README.md ./
RUN mkdir newsletter && printf '__version__ = "0"\n' > newsletter/__init__.py \
    && pip install . tzdata \
    && pip uninstall -y newsletter && rm -rf newsletter build
COPY newsletter ./newsletter
COPY config.toml ./config.toml
COPY subscribers ./subscribers
RUN pip install --no-deps . \
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
