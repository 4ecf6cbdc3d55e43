#!/usr/bin/env bash
# Where a scenario's slowest deliveries spent their time: each run of each server is recorded
# with `perf` (every task switch on CPU 0, where the servers and their Redis are pinned) while
# the shared harness runs unchanged through sampled_harness.py; tail_attribution.py then splits
# the wait of every delivery at or over the run's p99 into the server's own processes, other
# processes of the machine, and idle time.
#
#   REPS=2 SCENARIO=b bash bench/collab/tail.sh galaxy-one pycrdt-websocket hocuspocus
#
# Needs perf, the anchors installed as vs_anchors.sh installs them, and a quiet machine: run it
# detached (setsid nohup … &) and leave the machine alone until it is done — a terminal polling
# the job is itself one of the "other processes".
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared/bench}"
REPS="${REPS:-2}"
SCENARIO="${SCENARIO:-b}"
OUT="${OUT:-$HERE/results-tail-$(date +%Y%m%d-%H%M%S).jsonl}"
SERVERS=("$@"); [ ${#SERVERS[@]} -eq 0 ] && SERVERS=(galaxy-one pycrdt-websocket)
command -v perf >/dev/null || { echo "tail.sh needs perf (apt-get install linux-perf)" >&2; exit 1; }
WORK="$(mktemp -d /tmp/galaxy-tail-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# The anchors' script runs the harness beside it: give it a copy of the bench directory whose
# collab_bench.py is the sampling wrapper.
cp -r "$SHARED" "$WORK/bench"
cp "$HERE/sampled_harness.py" "$WORK/bench/collab_bench.py"
export REAL_HARNESS="$SHARED/collab_bench.py" SAMPLES_OUT="$WORK/samples.json"

comms_of() {  # the command names of a server's own processes
  case "$1" in
    galaxy-*) echo "python redis-server postgres" ;;
    pycrdt-websocket) echo "python" ;;
    hocuspocus*) echo "node redis-server" ;;
  esac
}

for rep in $(seq 1 "$REPS"); do
  for server in "${SERVERS[@]}"; do
    offset=$(python3 -c 'import time; print(time.time_ns() - time.monotonic_ns())')
    perf record -q -k mono -e sched:sched_switch -C 0 -o "$WORK/perf.data" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 0.5
    case "$server" in
      galaxy-one) HARNESS="$WORK/bench/collab_bench.py" SCENARIOS=$SCENARIO REPS=1 OUT="$WORK/run.jsonl" \
                    bash "$HERE/run_galaxy.sh" one >/dev/null 2>&1 ;;
      *) SCENARIOS=$SCENARIO REPS=1 OUT="$WORK/run.jsonl" bash "$WORK/bench/anchors/run_anchors.sh" "$server" \
           >/dev/null 2>&1 ;;
    esac
    kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null
    perf script -i "$WORK/perf.data" -F comm,pid,cpu,time,event,trace 2>/dev/null >"$WORK/sched.txt"
    comm_args=()
    for comm in $(comms_of "$server"); do comm_args+=(--server-comm "$comm"); done
    python3 "$HERE/tail_attribution.py" --samples "$SAMPLES_OUT" --sched "$WORK/sched.txt" \
      --clock-offset "$offset" "${comm_args[@]}" --label "$server-$SCENARIO-$rep" | tee -a "$OUT"
    rm -f "$WORK/run.jsonl" "$SAMPLES_OUT"
  done
done
echo "results: $OUT" >&2
