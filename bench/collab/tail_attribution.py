"""What ran on the servers' CPU while the slowest deliveries of a run waited.

    python tail_attribution.py --samples S.json --sched SCHED.txt --clock-offset NS --server-comm python ...

`S.json`: [send ns, receive ns] per measured delivery (sampled_harness.py, CLOCK_REALTIME).
`SCHED.txt`: `perf script` of `perf record -k mono -e sched:sched_switch -C 0` over the run (the
CPU every server and its Redis are pinned to). `--clock-offset`: CLOCK_REALTIME minus
CLOCK_MONOTONIC in ns, to put both on one clock. `--server-comm`: command names that belong to
the server under test (its processes, its Redis, its Postgres); everything else on the CPU is
another process of the machine.

For every delivery at or over the run's p99, the time between the edit's send and its arrival is
split by what the CPU ran; averaged over those deliveries (each counts the same, however long),
the shares say how much of the tail was the server's own work, how much other processes of the
machine, and how much the CPU idled. A delivery counts as held by another process when that
process ran for more than half of its wait.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import json
import re

_SWITCH = re.compile(r"\[000\]\s+([\d.]+):\s+sched:sched_switch:.*next_comm=(.*?) next_pid=(\d+)")


def switches(path: str, offset: int) -> list[tuple[int, str]]:
    found = []
    with open(path) as lines:
        for line in lines:
            match = _SWITCH.search(line)
            if match:
                found.append((round(float(match.group(1)) * 1e9) + offset, match.group(2)))
    found.sort()
    return found


def occupancy(sched: list[tuple[int, str]], times: list[int], start: int, end: int) -> dict[str, float]:
    """Microseconds each command ran on the CPU in [start, end]."""
    ran: dict[str, float] = collections.defaultdict(float)
    i = max(0, bisect.bisect_right(times, start) - 1)
    while i < len(sched) and sched[i][0] <= end:
        until = sched[i + 1][0] if i + 1 < len(sched) else end
        ran[sched[i][1]] += max(0, min(end, until) - max(start, sched[i][0])) / 1e3
        i += 1
    return ran


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", required=True)
    parser.add_argument("--sched", required=True)
    parser.add_argument("--clock-offset", type=int, required=True)
    parser.add_argument("--server-comm", action="append", default=[])
    parser.add_argument("--label", default="")
    args = parser.parse_args()

    with open(args.samples) as file:
        samples = [(int(sent), int(received)) for sent, received in json.load(file)]
    latencies = sorted((received - sent) / 1e6 for sent, received in samples)
    p99 = latencies[int(len(latencies) * 0.99)]
    sched = switches(args.sched, args.clock_offset)
    times = [t for t, _ in sched]
    tail = [(sent, received) for sent, received in samples if (received - sent) / 1e6 >= p99]
    ran: dict[str, float] = collections.defaultdict(float)
    shares = {"server": 0.0, "other processes": 0.0, "idle": 0.0}
    held_by_others = 0
    for sent, received in tail:
        window = occupancy(sched, times, sent, received)
        for comm, us in window.items():
            ran[comm] += us
        wait = (received - sent) / 1e3
        server = sum(us for comm, us in window.items() if comm in args.server_comm)
        idle = sum(us for comm, us in window.items() if comm.startswith("swapper"))
        others = sum(window.values()) - server - idle
        for name, us in (("server", server), ("other processes", others), ("idle", idle)):
            shares[name] += us / wait / len(tail)
        held_by_others += others > wait / 2
    print(json.dumps({
        "label": args.label, "deliveries": len(samples), "p99_ms": round(p99, 3), "max_ms": round(latencies[-1], 2),
        "tail_deliveries": len(tail), "held_by_other_processes": held_by_others,
        "share_percent": {name: round(100 * share, 1) for name, share in shares.items()},
        "by_command_ms": {comm: round(us / 1e3, 1) for comm, us in sorted(ran.items(), key=lambda x: -x[1])[:10]},
    }))  # fmt: skip


if __name__ == "__main__":
    main()
