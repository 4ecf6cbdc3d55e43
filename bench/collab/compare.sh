#!/usr/bin/env bash
# Galaxy against an earlier Galaxy under the collaboration harness, runs interleaved so both see
# the same machine: `run_galaxy.sh` of this tree and of BASE (a git revision, checked out in a
# scratch worktree that uses this tree's .venv), one run each in turn.
#
#   BASE=3cb1ce0 REPS=5 SCENARIOS="a b c" bash bench/collab/compare.sh one two
#
# Writes results-compare-<time>-{new,base}.jsonl beside this script and prints a summary: per
# configuration and scenario, the median and spread of p50/p99 and connect+sync p99, lost updates
# and converged runs.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BASE="${BASE:?set BASE to the git revision to compare with}"
REPS="${REPS:-5}"
SCENARIOS="${SCENARIOS:-a b c}"
CONFIGS=("$@"); [ ${#CONFIGS[@]} -eq 0 ] && CONFIGS=(one two)
STAMP="$(date +%Y%m%d-%H%M%S)"
NEW_OUT="$HERE/results-compare-$STAMP-new.jsonl"
BASE_OUT="$HERE/results-compare-$STAMP-base.jsonl"
BASE_TREE="$(mktemp -d /tmp/galaxy-base-XXXXXX)"

cleanup() { git -C "$ROOT" worktree remove --force "$BASE_TREE" >/dev/null 2>&1; rm -rf "$BASE_TREE"; }
trap cleanup EXIT
git -C "$ROOT" worktree add --detach "$BASE_TREE" "$BASE" >/dev/null
ln -s "$ROOT/.venv" "$BASE_TREE/.venv"

for cfg in "${CONFIGS[@]}"; do
  for sc in $SCENARIOS; do
    for _ in $(seq 1 "$REPS"); do
      SCENARIOS=$sc REPS=1 OUT="$NEW_OUT" bash "$ROOT/bench/collab/run_galaxy.sh" "$cfg" >/dev/null 2>&1
      SCENARIOS=$sc REPS=1 OUT="$BASE_OUT" HARNESS="$ROOT/../shared/bench/collab_bench.py" \
        bash "$BASE_TREE/bench/collab/run_galaxy.sh" "$cfg" >/dev/null 2>&1
    done
  done
done

"$ROOT/.venv/bin/python" - "$NEW_OUT" "$BASE_OUT" <<'PYEOF'
import json, statistics, sys
def load(path):
    rows = {}
    for line in open(path):
        r = json.loads(line)
        rows.setdefault((r["label"], r["scenario"]), []).append(r)
    return rows
new, base = load(sys.argv[1]), load(sys.argv[2])
print("| config | scenario | code | runs | p50 ms (median) | p99 ms (median, min–max) | connect+sync p99 ms (median) | lost | converged |")
print("|---|---|---|---|---|---|---|---|---|")
for key in sorted(new):
    for name, table in (("this tree", new), ("base", base)):
        runs = table.get(key, [])
        if not runs:
            continue
        p50 = [r["latency_ms"]["p50"] for r in runs]
        p99 = [r["latency_ms"]["p99"] for r in runs]
        cs = [r["connect_sync_ms"]["p99"] for r in runs]
        lost = sum(r["lost"] for r in runs)
        conv = sum(r["convergence"]["result"] == "CONVERGED" for r in runs)
        print(f"| {key[0]} | {key[1]} | {name} | {len(runs)} | {statistics.median(p50):.2f} | "
              f"{statistics.median(p99):.2f} ({min(p99):.2f}–{max(p99):.2f}) | {statistics.median(cs):.0f} | {lost} | {conv}/{len(runs)} |")
PYEOF
echo "raw: $NEW_OUT $BASE_OUT" >&2
