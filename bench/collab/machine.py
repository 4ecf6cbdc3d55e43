"""What the machine did under a benchmark run, beside the servers: counters that mark a run as
disturbed from outside the server measured.

    python bench/collab/machine.py --results R.jsonl    # a snapshot, one JSON object
    python bench/collab/machine.py --results R.jsonl --since "$SNAPSHOT" --label L --scenario S

The second prints the run's counts, and which line of the results file (JSON lines, one per run)
the run wrote: `result`, counted from 1, or null when the run wrote none.

`vs_anchors.sh` takes a snapshot before each run and writes the difference after it, one JSON
line per run, to `<results>.machine`; `summarize_vs_anchors.py` lists the disturbed runs under
its table. Counted over the whole machine (Linux only):

- `rto`: TCP retransmission timeouts. On loopback a lost segment waits at least 200 ms before it
  is sent again, doubling each time, so one timeout on a client's socket makes a slow delivery
  (200 ms or more) that no server work explains. Sockets torn down at a run's end time out too,
  so a count without such a delivery marks nothing.
- `retransmitted`: TCP segments sent again, tail-loss probes included.
- `steal_ms`: per CPU, time the hypervisor ran something else while this VM wanted the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _netstat(path: str) -> dict[str, int]:
    """`/proc/net/snmp` and `/proc/net/netstat` hold pairs of lines: names, then values."""
    counters: dict[str, int] = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return counters
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        prefix, *keys = names.split()
        for key, value in zip(keys, values.split()[1:], strict=False):
            counters[prefix + key] = int(value)
    return counters


def _lines(path: str | None) -> int:
    if path is None:
        return 0
    try:
        return sum(1 for line in Path(path).read_text().splitlines() if line.strip())
    except OSError:
        return 0


def snapshot(results: str | None = None) -> dict[str, Any]:
    counters = {**_netstat("/proc/net/snmp"), **_netstat("/proc/net/netstat")}
    steal = []
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            fields = line.split()
            if fields[0].startswith("cpu") and fields[0] != "cpu":
                steal.append(int(fields[8]) * _TICK_MS)
    except (OSError, IndexError):
        pass
    return {
        "rto": counters.get("TcpExt:TCPTimeouts", 0),
        "retransmitted": counters.get("Tcp:RetransSegs", 0),
        "steal_ms": steal,
        "results_lines": _lines(results),
    }


def since(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    def count(key: str) -> int:
        return int(after[key]) - int(before[key])

    return {
        "result": after["results_lines"] if count("results_lines") > 0 else None,
        "rto": count("rto"),
        "retransmitted": count("retransmitted"),
        "steal_ms": [round(b - a) for a, b in zip(before["steal_ms"], after["steal_ms"], strict=False)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", help="the results file the run appends its line to")
    parser.add_argument("--since", help="a snapshot taken before the run (JSON)")
    parser.add_argument("--label", default="")
    parser.add_argument("--scenario", default="")
    args = parser.parse_args()
    now = snapshot(args.results)
    if args.since is None:
        print(json.dumps(now))
        return
    print(json.dumps({"label": args.label, "scenario": args.scenario, **since(json.loads(args.since), now)}))


if __name__ == "__main__":
    main()
