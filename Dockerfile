# synthetic-monitor in a container: Debian's Chromium for journeys, non-root.
#   docker build -t synthetic-monitor .
#   docker run --security-opt seccomp=unconfined -v monitor-data:/data -e TARGET_URL=https://chat.example.com \
#     synthetic-monitor
# (seccomp=unconfined: Docker's default profile refuses the user namespace Chromium's sandbox needs as a
# non-root user; see deploy/docker-compose.yml.)
# Mount your own config at /app/config.toml (or set MONITOR_CONFIG). The database
# and artifacts live in the /data volume.
# BASE: any Debian bookworm with `python` and `pip` on PATH; scripts/prove-image builds one
# from Debian's packages (debootstrap) and passes it here.
ARG BASE=python:3.12-slim-bookworm
FROM ${BASE}

# libatomic1: Playwright's bundled Node.js driver links it, and slim images lack it (without it every journey
# fails with "Connection closed while reading from the driver"; scripts/prove-image found it).
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-liberation libatomic1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY probes ./probes
COPY alerts ./alerts
COPY demo ./demo
RUN pip install --no-cache-dir .
COPY config.toml ./

# Numeric ids, the same on every base: Kubernetes' runAsNonRoot can only verify a numeric USER, and fsGroup
# 10001 then makes a volume writable by this group.
RUN groupadd --system --gid 10001 monitor \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin monitor \
    && mkdir -p /data && chown 10001:10001 /data && chmod 0700 /data
USER 10001:10001
VOLUME ["/data"]
ENV MONITOR_CONFIG=/app/config.toml \
    MONITOR_DATA_DIR=/data \
    PYTHONUNBUFFERED=1

EXPOSE 9108
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4).status != 200)"

ENTRYPOINT ["monitor"]
CMD ["run"]
