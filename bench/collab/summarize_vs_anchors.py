"""The comparison table of `vs_anchors.sh`: one row per server and scenario, over its runs.

    python bench/collab/summarize_vs_anchors.py results-anchors-*.jsonl

p50 and connect+sync are medians over the runs; p99 is listed run by run (sorted) as well,
because the target is every run, not only the median. CPU is the server's (all its processes)
during writing and draining; per delivered update it is divided by the updates received.

Where `vs_anchors.sh` noted what the machine did during each run (`<results>.machine`,
`machine.py`), a second table lists every run in the order it ran, with its p99 and slowest
delivery beside the machine's TCP retransmission timeouts and CPU steal: a run the machine
disturbed shows there.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

ORDER = ["hocuspocus", "pycrdt-websocket", "galaxy-one", "hocuspocus-redis", "galaxy-two"]


def main(paths: list[str]) -> None:
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    machine: list[tuple[dict[str, Any], dict[str, Any] | None]] = []  # what the machine did, the run's results
    for path in paths:
        rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
        for row in rows:
            runs.setdefault((row["scenario"], row["label"]), []).append(row)
        noted = Path(path + ".machine")
        if noted.exists():
            for line in noted.read_text().splitlines():
                if line.strip():
                    run = json.loads(line)
                    machine.append((run, rows[run["result"] - 1] if run["result"] else None))
    print(
        "| scenario | server | runs | p50 ms | p99 ms, each run | p99 median | full fan-out p99 | "
        "connect+sync p99 ms | server CPU s | CPU µs / delivered | lost | converged |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for scenario, label in sorted(runs, key=lambda k: (k[0], ORDER.index(k[1]) if k[1] in ORDER else 99)):
        rows = runs[(scenario, label)]
        p99 = sorted(r["latency_ms"]["p99"] for r in rows)
        cpu = [r["server"]["cpu_s_write_drain"] for r in rows]
        per_update = [r["server"]["cpu_s_write_drain"] / max(1, r["delivered"]) * 1e6 for r in rows]
        converged = sum(r["convergence"]["result"] == "CONVERGED" for r in rows)
        print(
            f"| {scenario} | {label} | {len(rows)} | {_median(r['latency_ms']['p50'] for r in rows):.2f} | "
            f"{' / '.join(f'{v:.1f}' for v in p99)} | {statistics.median(p99):.2f} | "
            f"{_median(r['fanout_last_ms']['p99'] for r in rows):.1f} | "
            f"{_median(r['connect_sync_ms']['p99'] for r in rows):.0f} | {statistics.median(cpu):.2f} | "
            f"{statistics.median(per_update):.1f} | {sum(r['lost'] for r in rows)} | {converged}/{len(rows)} |"
        )
    if machine:
        _machine_table(machine)


def _machine_table(machine: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> None:
    print()
    print("| # | scenario | server | p99 ms | slowest ms | TCP retransmission timeouts | CPU steal ms (each CPU) |")
    print("|---|---|---|---|---|---|---|")
    for number, (run, row) in enumerate(machine, 1):
        latency = row["latency_ms"] if row else None
        measured = f"{latency['p99']:.2f} | {latency['max']:.1f}" if latency else "no result | "
        steal = " / ".join(str(ms) for ms in run["steal_ms"])
        print(f"| {number} | {run['scenario']} | {run['label']} | {measured} | {run['rto']} | {steal} |")


def _median(values: object) -> float:
    return float(statistics.median(list(values)))  # type: ignore[call-overload]


if __name__ == "__main__":
    main(sys.argv[1:])
