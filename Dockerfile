# Galaxy — one image for every process.
#
#   docker build -t galaxy .
#   docker run --rm -e DATABASE_URL=... -e REDIS_URL=... -e SECRET_KEY=... galaxy galaxy migrate
#   docker run -p 8000:8000 -e DATABASE_URL=... -e REDIS_URL=... -e SECRET_KEY=... galaxy            # web (default)
#   docker run --no-healthcheck -e DATABASE_URL=... -e REDIS_URL=... -e SECRET_KEY=... galaxy galaxy worker
#
# The same image runs the worker with `galaxy worker` and migrations with `galaxy migrate`
# (give those --no-healthcheck: the health check probes the web server's /healthz).
# DATABASE_URL (postgresql://...), REDIS_URL (redis://...) and SECRET_KEY (at least 32 random
# characters) must be set; the image starts no embedded Postgres or Redis. Mount a volume on
# /app/data to keep uploaded media and the web processes' spool of edits (collab/spool.py).

# --- Stage 1: build the editor (static files only; nothing from Node reaches the runtime) ---
FROM node:20-slim AS editor
WORKDIR /src/static
COPY static/package.json static/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY static/ ./
RUN npm run build

# --- Stage 2: the Python runtime ---
FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
COPY pyproject.toml README.md piccolo_conf.py ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the project itself (console script `galaxy`).
COPY server/ server/
COPY engine/ engine/
COPY collab/ collab/
COPY migrations/ migrations/
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf build *.egg-info

COPY --from=editor /src/static/dist /app/static/dist
ENV GALAXY_STATIC_DIR=/app/static/dist

RUN groupadd --system --gid 10001 galaxy \
    && useradd --system --uid 10001 --gid galaxy --home-dir /app/data --no-create-home \
        --shell /usr/sbin/nologin galaxy \
    && mkdir -p /app/data/media /app/data/spool \
    && chown -R galaxy:galaxy /app/data
ENV GALAXY_DATA_DIR=/app/data \
    MEDIA_DIR=/app/data/media \
    COLLAB_SPOOL_DIR=/app/data/spool

USER galaxy
EXPOSE 8000
ENV HOST=0.0.0.0 \
    PORT=8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

CMD ["galaxy", "web"]
