"""Webhook intake under load: one `galaxy web`, one `galaxy worker`, senders in another process.

    python -m bench.hooks_bench                     (Postgres and Redis on 127.0.0.1, like the tests)
    python -m bench.hooks_bench --seconds 30 --senders 50 --profile /tmp/web.txt
    python -m bench.hooks_bench --seconds 20 --rate 250       (an open loop at 250 requests a second)

It creates a scratch database (dropped afterwards), starts one web and one worker process on a
Redis namespace of its own, signs up a user, imports a one-node workflow (a Text node whose text
is the input `topic`) and makes a hook for it. Then a separate load process runs `--senders`
concurrent senders, each on its own keep-alive connection, for `--seconds`: every request is a
new Standard Webhooks message (unique `webhook-id`, signed with the `standardwebhooks` package)
sent without waiting between requests (or, with `--rate`, on a fixed schedule). Reported:
accepted (202) requests per second, p50/p99/max latency of the 202s, other answers, that every
accepted request made exactly one run (the run ids answered against the runs in Postgres), the
web process's event-loop lag over the load (from its `galaxy_event_loop_lag_seconds` histogram),
CPU seconds of the web, worker and load processes, and how many of the runs the worker finished.
`--profile FILE` samples the web and worker processes with py-spy (`pip install py-spy`) during
the load and writes their top functions to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx

from bench.soak import Processes, cpu_seconds
from server.embedded import free_port
from server.settings import PROJECT_ROOT
from tests.support import admin_sql

ADMIN_URL = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
METRICS_TOKEN = secrets.token_hex(16)
LAG_METRIC = "galaxy_event_loop_lag_seconds"


# --- the load process ------------------------------------------------------------------------


class KeepAlive:
    """A minimal HTTP/1.1 client on one keep-alive connection: the load process should spend its
    CPU on signing and sending, not on a general-purpose client (httpx took ~4 ms per request)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\ncontent-length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _sender(
    url: str, secret: str, deadline: float, out: list[Any], interval: float | None = None, offset: float = 0.0
) -> None:
    """Send webhooks until `deadline`: each as soon as the previous was answered, or, with an
    `interval`, on a fixed schedule (an open loop), the latency then counted from the time the
    request was due, so that a sender held up by a slow answer does not hide the wait."""
    from standardwebhooks import Webhook

    parts = urlsplit(url)
    client = KeepAlive(parts.hostname or "127.0.0.1", parts.port or 80)
    signer = Webhook(secret)
    due = time.perf_counter() + offset
    try:
        while time.monotonic() < deadline:
            if interval is not None:
                if (wait := due - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
                due += interval
            message_id = f"msg_{secrets.token_hex(12)}"
            body = json.dumps({"inputs": {"topic": message_id}})
            now = datetime.now(UTC)
            headers = {
                "webhook-id": message_id,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signer.sign(message_id, now, body),
                "content-type": "application/json",
            }
            started = time.perf_counter() if interval is None else min(due - interval, time.perf_counter())
            try:
                status, answer = await client.post(parts.path, body.encode(), headers)
            except (OSError, ConnectionError, asyncio.IncompleteReadError) as err:
                out.append((started, time.perf_counter() - started, type(err).__name__, None))
                client.close()
                client = KeepAlive(client.host, client.port)
                continue
            latency = time.perf_counter() - started
            run_id = json.loads(answer)["run_id"] if status == 202 else None
            out.append((started, latency, status, run_id))
    finally:
        client.close()


async def _load(url: str, secret: str, seconds: float, senders: int, rate: float | None) -> dict[str, Any]:
    results: list[Any] = []
    started = time.monotonic()
    deadline = started + seconds
    interval = senders / rate if rate else None  # each sender's share of the offered rate
    await asyncio.gather(
        *(_sender(url, secret, deadline, results, interval, i * (interval or 0) / senders) for i in range(senders))
    )
    return {"elapsed": time.monotonic() - started, "results": results}


def load_main(args: argparse.Namespace) -> None:
    import uvloop

    outcome = uvloop.run(_load(args.url, args.secret, args.seconds, args.senders, args.rate))
    Path(args.out).write_text(json.dumps(outcome))


# --- the harness -----------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def lag_histogram(base: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10).text
    values = {}
    for line in text.splitlines():
        match = re.match(rf'{LAG_METRIC}_bucket{{le="([^"]+)"}} (\S+)', line)
        if match:
            values[match.group(1)] = float(match.group(2))
        elif line.startswith(f"{LAG_METRIC}_count "):
            values["count"] = float(line.split()[1])
    return values


def lag_report(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    delta = {key: after.get(key, 0) - before.get(key, 0) for key in after}
    probes = delta.get("count", 0)
    over_50 = probes - delta.get("0.05", 0)
    bounds = sorted((float(k), v) for k, v in delta.items() if k not in ("count", "+Inf"))
    worst = next((bound for bound, count in bounds if count >= probes), float("inf"))
    under = {f"<= {bound * 1000:g} ms": int(count) for bound, count in bounds if bound in (0.005, 0.01, 0.025, 0.05)}
    return {"probes": int(probes), "over_50_ms": int(over_50), "max_at_most_ms": worst * 1000, "cumulative": under}


async def setup(base: str) -> tuple[str, str]:
    """A user, a one-node workflow with the input `topic`, and a hook: (hook url, secret)."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        email = f"bench-{secrets.token_hex(4)}@example.com"
        me = await http.post(
            "/api/auth/signup", json={"email": email, "password": "correct horse battery", "name": "Bench"}
        )
        me.raise_for_status()
        http.headers["x-csrf-token"] = me.json()["csrf_token"]
        node = {
            "id": "topic",
            "type": "text",
            "position": {"x": 0, "y": 0},
            "data": {"text": "", "input_name": "topic"},
        }
        imported = await http.post(
            "/api/workflows/import",
            json={"format": "galaxy.workflow", "version": 1, "name": "Hook bench", "nodes": [node], "edges": []},
        )
        imported.raise_for_status()
        workflow_id = imported.json()["id"]
        hook = await http.post(f"/api/workflows/{workflow_id}/hooks", json={"name": "bench"})
        hook.raise_for_status()
        return hook.json()["url"], hook.json()["secret"]


async def count_runs(database_url: str, hook_id: str) -> dict[str, Any]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT id, status FROM runs WHERE hook = $1", hook_id)
    finally:
        await connection.close()
    return {"ids": {str(r["id"]) for r in rows}, "statuses": Counter(r["status"] for r in rows)}


async def backend_pids(database_url: str, database: str) -> list[int]:
    """The Postgres server processes serving the benchmark's database (the pools' connections)."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database
        )
    finally:
        await connection.close()
    return [r["pid"] for r in rows]


def cpu_of(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) or 0.0 for pid in pids)


def run_load(
    base: str, url: str, secret: str, seconds: float, senders: int, out: Path, rate: float = 0.0
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "bench.hooks_bench", "--load", "--url", url, "--secret", secret]
    argv += ["--seconds", str(seconds), "--senders", str(senders), "--rate", str(rate), "--out", str(out)]
    return subprocess.Popen(argv, cwd=PROJECT_ROOT)


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy is not installed (pip install py-spy); not profiling", file=sys.stderr)
        return None
    argv = [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "200"]
    argv += ["--format", "raw", "--output", str(out), "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def top_of_profile(raw: Path, limit: int = 25) -> list[tuple[str, float]]:
    """Share of samples in which each function appears (inclusive), from py-spy's collapsed stacks."""
    counts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        for frame in set(stack.split(";")):
            counts[re.sub(r":\d+\)$", ")", frame)] += samples
    return [(frame, round(100 * n / total, 1)) for frame, n in counts.most_common(limit)] if total else []


def bench(args: argparse.Namespace) -> dict[str, Any]:
    tag = secrets.token_hex(4)
    log_dir = Path(f"/tmp/galaxy-hooks-bench-{tag}")
    log_dir.mkdir(parents=True)
    database = f"galaxy_hooks_bench_{tag}"
    database_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "GALAXY_REDIS_NAMESPACE": f"hooks-bench-{tag}",
        "SECRET_KEY": secrets.token_hex(32),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": args.log_level,
        "LOG_JSON": "true",
        "METRICS_TOKEN": METRICS_TOKEN,
        "WEBHOOK_RATE_LIMIT": "10000000",
        "DB_POOL_MAX": str(args.db_pool),
    }
    processes = Processes(log_dir)
    report: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "senders": args.senders,
        "offered_per_second": args.rate or "as fast as answered",
        "seconds": args.seconds,
        "log_level": args.log_level,
        "db_pool_max": args.db_pool,
        "worker": args.worker,
        "load_average_before": os.getloadavg(),
    }
    admin_sql(ADMIN_URL, f'CREATE DATABASE "{database}"')
    try:
        subprocess.run([sys.executable, "-m", "server.cli", "migrate"], env=env, cwd=PROJECT_ROOT, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        web = processes.start("web", [sys.executable, "-m", "server.cli", "web"], env)
        measured = {"web": web}
        if args.worker:  # without one (--no-worker, a diagnosis) the runs stay queued
            measured["worker"] = processes.start("worker", [sys.executable, "-m", "server.cli", "worker"], env)
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            if web.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the web process did not start; see {log_dir}/web.log")
            time.sleep(0.2)
        hook_url, secret = asyncio.run(setup(base))
        hook_id = hook_url.rsplit("/", 1)[1]
        # Warm-up (not measured): a few seconds of the same load on its own hook.
        warm_url, warm_secret = asyncio.run(setup(base))
        run_load(base, warm_url, warm_secret, 3, 10, log_dir / "warmup.json").wait()
        lag_before = lag_histogram(base)
        cpu_before = {name: cpu_seconds(p.pid) or 0.0 for name, p in measured.items()}
        backends = asyncio.run(backend_pids(database_url, database))
        cpu_before["postgres"] = cpu_of(backends)
        load = run_load(base, hook_url, secret, args.seconds, args.senders, log_dir / "load.json", args.rate)
        spies = {}
        for name, process in measured.items() if args.profile else ():
            if (spy := profile(process.pid, args.seconds - 4, log_dir / f"{name}.raw")) is not None:
                spies[name] = spy
        load_cpu = 0.0
        while load.poll() is None:
            load_cpu = cpu_seconds(load.pid) or load_cpu
            time.sleep(0.2)
        finished_during = asyncio.run(count_runs(database_url, hook_id))["statuses"]
        cpu_after = {name: cpu_seconds(p.pid) or 0.0 for name, p in measured.items()}
        cpu_after["postgres"] = cpu_of(backends)  # connections opened during the load are not counted
        lag_after = lag_histogram(base)
        for spy in spies.values():
            spy.wait(timeout=60)
        outcome = json.loads((log_dir / "load.json").read_text())
        time.sleep(0.5)  # the delivery log and the last answers' runs are written by now
        runs = asyncio.run(count_runs(database_url, hook_id))
        results = outcome["results"]
        accepted = [r for r in results if r[2] == 202]
        answered_runs = [r[3] for r in accepted]
        report.update(
            {
                "requests": len(results),
                "answers": dict(Counter(str(r[2]) for r in results)),
                "accepted": len(accepted),
                "accepted_per_second": round(len(accepted) / outcome["elapsed"], 1),
                "latency_ms": {
                    "p50": round((percentile([r[1] for r in accepted], 50) or 0) * 1000, 1),
                    "p99": round((percentile([r[1] for r in accepted], 99) or 0) * 1000, 1),
                    "max": round(max((r[1] for r in accepted), default=0) * 1000, 1),
                },
                "runs_in_postgres": len(runs["ids"]),
                "one_run_per_accepted_request": len(set(answered_runs)) == len(answered_runs)
                and set(answered_runs) == runs["ids"],
                "runs_finished_by_the_end_of_the_load": sum(
                    n for s, n in finished_during.items() if s not in ("queued", "running")
                ),
                "event_loop_lag": lag_report(lag_before, lag_after),
                "cpu_seconds": {
                    **{k: round(cpu_after[k] - cpu_before[k], 1) for k in cpu_before},
                    "load": round(load_cpu, 1),
                },
                "cpu_ms_per_accepted_request": {
                    k: round(1000 * (cpu_after[k] - cpu_before[k]) / max(1, len(accepted)), 2) for k in cpu_before
                },
                # The worker falls behind under this load: its cost per run it actually finished.
                "worker_cpu_ms_per_finished_run": round(
                    1000
                    * (cpu_after.get("worker", 0.0) - cpu_before.get("worker", 0.0))
                    / max(1, sum(n for s, n in finished_during.items() if s not in ("queued", "running"))),
                    2,
                ),
                "load_average_after": os.getloadavg(),
                "log_dir": str(log_dir),
            }
        )
        sections = []
        for name in spies:
            if (log_dir / f"{name}.raw").exists():
                report[f"{name}_profile_top"] = top = top_of_profile(log_dir / f"{name}.raw")
                sections.append(f"# {name}\n" + "\n".join(f"{share:5.1f}%  {frame}" for frame, share in top))
        if sections:
            Path(args.profile).write_text("\n\n".join(sections) + "\n")
    finally:
        processes.stop()
        admin_sql(ADMIN_URL, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return report


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hooks_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument(
        "--rate", type=float, default=0.0,
        help="offer this many requests per second in all, on a fixed schedule (default: each sender sends again "
        "as soon as it is answered); latency then counts from when a request was due",
    )  # fmt: skip
    parser.add_argument("--log-level", default="WARNING", help="LOG_LEVEL of web and worker (INFO logs every request)")
    parser.add_argument("--db-pool", type=int, default=10, help="DB_POOL_MAX of web and worker")
    parser.add_argument("--no-worker", dest="worker", action="store_false", help="diagnosis: no worker runs")
    parser.add_argument("--profile", default="", help="write the web and worker processes' py-spy top functions here")
    parser.add_argument("--json-out", default="")
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        load_main(args)
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    report = bench(args)
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(text)


if __name__ == "__main__":
    main()
