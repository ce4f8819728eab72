# The demo in one container: supervisord (PID 1) runs the web app, from step 2
# on the Celery worker, and from step 8 on Flower. Built by `docker compose up --build`.

# Python 3.13's newest release, slim, on Debian trixie (stable): an exact tag, so
# that every learner builds on the same Python, and moving it is a commit.
FROM python:3.13.15-slim-trixie

# WEB_HOST to EXTRA_WORKERS: what supervisord.conf reads, which `make run` sets
# natively. EXTRA_WORKERS counts the Celery workers on hello_queue besides
# worker_hello in this container (`make run` computes it from WORKERS); with
# Compose, add workers as containers instead: `docker compose up --scale worker=3`.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8000 \
    WORKER_CONCURRENCY=2 \
    FLOWER_PORT=5555 \
    EXTRA_WORKERS=0

# Dependencies first, in their own layer, so that editing the code does not
# reinstall them.
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.txt

# Nothing here needs root: supervisord and its programs run as `hello`.
# Numeric ids, so that Kubernetes' runAsNonRoot can check them.
RUN groupadd --gid 10001 hello && useradd --create-home --uid 10001 --gid 10001 hello
WORKDIR /app
# The code stays root's, read-only for `hello`, which may write only in .run
# (supervisord's socket and pid file).
COPY . .
RUN mkdir .run && chown 10001:10001 .run
USER 10001:10001

# The page, and Flower (DEMO.md step 8; its password comes from FLOWER_BASIC_AUTH at run time).
EXPOSE 8000 5555
# `docker ps` shows the container healthy or unhealthy: scripts/healthcheck.py
# asks supervisord for its programs' states (a program stuck in FATAL fails it)
# and GETs the page. It runs as USER, who owns supervisord's 0700 socket.
# --interval=30s: while the blocking route of step 1 holds gunicorn's one sync
#   worker (up to 30 s), the page does not answer; one such request cannot
#   fail 3 checks 30 s apart.
# --timeout=10s: the script gives supervisord and the page 2 s each.
# --start-period=30s: failures while the programs start do not count.
# --retries=3: unhealthy after 3 failures in a row.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "/app/scripts/healthcheck.py"]
CMD ["supervisord", "-c", "/app/supervisord.conf"]
