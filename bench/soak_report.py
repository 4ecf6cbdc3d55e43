"""The soak benchmark's summary: the numbers per promise, the verdict, the printed report."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from bench.soak_load import Stats, fold_tail, percentile


def summarize(stats: Stats, samples: list[dict[str, Any]], load_seconds: float, duration: float) -> dict[str, Any]:
    """RSS at start, middle and end; what the load did; fan-out per minute; the harness's own lag.

    `samples`: the RSS samples taken during the load, then one after the convergence check, then
    one after every socket closed and the rooms had time to unload."""
    report: dict[str, Any] = {}
    middle = min(samples[:-2], key=lambda s: abs(s["t_s"] - duration / 2))
    report["rss_mb"] = {
        name: {
            "start": samples[0][name],
            "middle": middle[name],
            "end": samples[-3][name],
            "after_close": samples[-1][name],
            "max": max(s[name] or 0 for s in samples),
        }
        for name in samples[0]
        if name.startswith("web")
    }
    report["load"] = {
        "seconds": round(load_seconds, 1),
        "edits": stats.edits,
        "edits_per_s": round(stats.edits / load_seconds, 1),
        "presence_moves": stats.presence_moves,
        "joins": stats.joins,
        "leaves": stats.leaves,
        "join_p50_ms": percentile(stats.join_ms, 50),
        "join_p99_ms": percentile(stats.join_ms, 99),
        "unexpected_closes": stats.unexpected_closes,
        "connect_failures": stats.connect_failures[:50],
        "connect_failure_count": len(stats.connect_failures),
        "run_start_failures": stats.run_start_failures[:50],
    }
    report["fanout_per_minute"] = stats.fanout_per_minute(duration / 60)
    everything = [v for values in stats.fanout.values() for v in values]
    report["fanout_all"] = {
        "samples": len(everything),
        "p50_ms": percentile(everything, 50),
        "p99_ms": percentile(everything, 99),
        "max_ms": round(max(everything, default=0), 2),
    }
    fold_tail(stats.loop_lag, duration / 60)
    report["harness_loop_lag_ms"] = [
        {"minute": m, "p99": percentile(v, 99), "max": round(max(v), 1)} for m, v in sorted(stats.loop_lag.items())
    ]
    return report


def verdict(report: dict[str, Any], headroom_mb: float) -> dict[str, Any]:
    """Pass/fail per promise. Web RSS may grow by what the documents themselves take (every web
    process holds all of them) plus `headroom_mb`; more than that is memory kept for nothing."""
    stored, convergence, runs = report["stored"], report["convergence"], report["runs"]
    growth = {name: round((r["end"] or 0) - (r["start"] or 0), 1) for name, r in report["rss_mb"].items()}
    rss_bound_mb = round((stored["documents_memory_mb"] or 0) + headroom_mb, 1)
    return {
        "zero_lost_stored": stored["missing"] == 0,
        "zero_lost_clients": convergence["missing_in_clients"] == 0,
        "converged": convergence["diverged_workflows"] == 0,
        "runs_all_finished": runs["started"] == runs["final"] and not report["load"]["run_start_failures"],
        "no_errors_in_logs": sum(len(v["errors"]) for v in report["logs"].values()) == 0,
        "no_unexpected_closes": not report["load"]["unexpected_closes"],
        "rss_growth_mb": growth,
        "rss_growth_within_bound": all(g <= rss_bound_mb for g in growth.values()),
        "rss_bound_mb": rss_bound_mb,
    }


def print_summary(report: dict[str, Any]) -> None:
    if "verdict" not in report:
        print(json.dumps({k: report.get(k) for k in ("interrupted", "exit_codes", "logs")}, indent=1))
        return
    load, stored, conv, runs = report["load"], report["stored"], report["convergence"], report["runs"]
    print(f"\n=== soak: {report['sockets']} sockets, {report['workflows']} workflows, {load['seconds']:.0f} s")
    print(
        f"edits {load['edits']} ({load['edits_per_s']}/s), cursor moves {load['presence_moves']}, "
        f"joins {load['joins']}, leaves {load['leaves']}, join p50/p99 {load['join_p50_ms']}/{load['join_p99_ms']} ms"
    )
    print(
        f"lost: stored {stored['missing']} of {stored['written']} "
        f"(complete after {stored['seconds_until_complete']} s); "
        f"clients {conv['missing_in_clients']}"
    )
    print(
        f"converged: {conv['workflows'] - conv['diverged_workflows']}/{conv['workflows']} workflows, "
        f"{conv['clients']} clients, after {conv['seconds']} s; presence seen by "
        f"{conv['presence_pairs'] - conv['presence_missing']}/{conv['presence_pairs']} client pairs"
    )
    print(f"documents: {stored['documents_bytes']} bytes stored, {stored['documents_memory_mb']} MB loaded in memory")
    for name, rss in report["rss_mb"].items():
        print(
            f"{name} RSS MB start {rss['start']} middle {rss['middle']} end {rss['end']} "
            f"after close {rss['after_close']} max {rss['max']}"
        )
    print(
        "fan-out per minute (p50 / p99 / max ms):",
        "  ".join(f"{m['minute']}: {m['p50_ms']}/{m['p99_ms']}/{m['max_ms']}" for m in report["fanout_per_minute"]),
    )
    print("CPU % of one core:", report["cpu_percent"])
    print(f"runs: started {runs['started']}, final {runs['final']}, statuses {runs['statuses']}")
    errors = Counter({name: len(scan["errors"]) for name, scan in report["logs"].items()})
    print(f"ERROR lines: {dict(errors)}; unexpected closes: {len(load['unexpected_closes'])}")
    for name, scan in report["logs"].items():
        for line in scan["errors"][:5]:
            print(f"  {name}: {line[:300]}")
    print("verdict:", json.dumps(report["verdict"]))
