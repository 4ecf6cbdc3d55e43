"""`galaxy web` start-up time and memory, for two source trees (before and after a change).

For each tree: start `python -m server.cli web` five times against a scratch database, and
record the time from process start to the first 200 from /healthz and the process's resident
memory (VmRSS) right then. Also reported: what importing litellm costs in a fresh interpreter,
which is what the web process avoids by never importing it.

    python -m bench.web_startup [OTHER_TREE]    (default: this tree only)
    git archive <base> | tar -x -C /tmp/before && python -m bench.web_startup /tmp/before
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from server.embedded import free_port
from server.settings import PROJECT_ROOT
from tests.support import admin_sql

ADMIN_URL = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RUNS = 7


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_once(tree: Path, env: dict[str, str]) -> tuple[float, float]:
    port = free_port()
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "web"],
        cwd=tree,
        env={**env, "PORT": str(port), "PYTHONPATH": str(tree)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return time.perf_counter() - began, rss_mib(process.pid)
            except httpx.TransportError:
                time.sleep(0.02)
            if process.poll() is not None:
                raise RuntimeError(f"galaxy web from {tree} exited")
    finally:
        process.terminate()
        process.wait(timeout=20)


def litellm_import_cost() -> dict[str, float]:
    probe = (
        "import os, time, resource\nos.environ['LITELLM_LOCAL_MODEL_COST_MAP'] = 'True'\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\nt = time.perf_counter()\nimport litellm\n"
        "print(time.perf_counter() - t, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)"
    )
    seconds, mib = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    return {"import_s": round(float(seconds), 2), "rss_added_mib": round(float(mib), 1)}


def main() -> None:
    trees = [PROJECT_ROOT] + [Path(arg).resolve() for arg in sys.argv[1:]]
    database = f"galaxy_bench_{secrets.token_hex(4)}"
    admin_sql(ADMIN_URL, f'CREATE DATABASE "{database}"')
    env = {**os.environ, "DATABASE_URL": ADMIN_URL.rsplit("/", 1)[0] + f"/{database}", "REDIS_URL": REDIS_URL,
           "SECRET_KEY": "x" * 32, "LOG_LEVEL": "WARNING", "HOST": "127.0.0.1"}  # fmt: skip
    try:
        subprocess.run([sys.executable, "-m", "server.cli", "migrate"], env=env, cwd=PROJECT_ROOT, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        runs: dict[Path, list[tuple[float, float]]] = {tree: [] for tree in trees}
        for _ in range(RUNS):  # interleaved, so load from elsewhere on the machine hits both alike
            for tree in trees:
                runs[tree].append(start_once(tree, env))
        for tree, samples in runs.items():
            print(json.dumps({
                "tree": str(tree),
                "startup_median_s": round(statistics.median(s for s, _ in samples), 2),
                "startup_runs_s": [round(s, 2) for s, _ in samples],
                "rss_median_mib": round(statistics.median(r for _, r in samples), 1),
            }), flush=True)  # fmt: skip
        print(json.dumps({"litellm_in_a_fresh_interpreter": litellm_import_cost()}))
    finally:
        admin_sql(ADMIN_URL, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
