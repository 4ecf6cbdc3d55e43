"""What one flush of a busy web process costs Postgres and the web process: the flush's statement
(`server/workflows/store.py` `_APPEND`) against the transaction it replaced on 8 December 2026
(BEGIN; `UPDATE workflows SET updated_at … RETURNING id`; `INSERT … unnest`; COMMIT).

    .venv/bin/python bench/collab/flush_cost.py [--docs 50] [--flushes 400] [--rounds 2]

Creates a scratch database (`galaxy_flush_cost`, dropped again), migrates it, and makes one user
and `--docs` workflows; then flushes one log row per workflow (as scenario b's fifty writers
produce each 0.5 s), the two ways in turn, `--flushes` times per round. Reports, per flush, the
CPU time of the Postgres backend (from /proc) and of this process (asyncpg's side), and the wall
time. Postgres at 127.0.0.1:5432, user postgres (ADMIN_URL to change).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from piccolo.querystring import QueryString  # noqa: E402

from server.workflows.store import _APPEND, TOUCH_EVERY  # noqa: E402

BEFORE_UPDATE = "UPDATE workflows SET updated_at = now() WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL RETURNING id"
BEFORE_INSERT = (
    "INSERT INTO document_updates (workflow, data, author, created_at) "
    "SELECT w, d, a, now() FROM unnest($1::uuid[], $2::bytea[], $3::uuid[]) AS t(w, d, a)"
)
NOW = QueryString(_APPEND, *([None] * 5)).compile_string()[0]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(url: str, docs: int, flushes: int, rounds: int) -> None:
    connection = await asyncpg.connect(url)
    owner = await connection.fetchval("INSERT INTO users (email, name) VALUES ('flush@example.com', 'f') RETURNING id")
    ids = [
        await connection.fetchval("INSERT INTO workflows (owner, name) VALUES ($1, $2) RETURNING id", owner, f"w{n}")
        for n in range(docs)
    ]
    backend = await connection.fetchval("SELECT pg_backend_pid()")
    data, authors = [os.urandom(60) for _ in ids], [owner] * len(ids)

    async def before() -> None:
        async with connection.transaction():
            await connection.fetch(BEFORE_UPDATE, ids)
            await connection.execute(BEFORE_INSERT, ids, data, authors)

    async def now() -> None:
        await connection.fetch(NOW, ids, TOUCH_EVERY, ids, data, authors)

    ways: dict[str, Any] = {"before (transaction)": before, "one statement": now}
    for _ in range(rounds):
        for name, flush in ways.items():
            for _ in range(20):
                await flush()
            started = (time.process_time(), cpu_seconds(backend), time.perf_counter())
            for _ in range(flushes):
                await flush()
            ended = (time.process_time(), cpu_seconds(backend), time.perf_counter())
            client, server, wall = ((b - a) * 1e3 / flushes for a, b in zip(started, ended, strict=True))
            print(f"{name:22s} Postgres {server:5.2f} ms/flush, web process {client:5.2f}, wall {wall:5.2f}")
    await connection.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=50)
    parser.add_argument("--flushes", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    admin_url = os.environ.get("ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    url = admin_url.rsplit("/", 1)[0] + "/galaxy_flush_cost"
    admin = await asyncpg.connect(admin_url)
    await admin.execute("DROP DATABASE IF EXISTS galaxy_flush_cost WITH (FORCE)")
    await admin.execute("CREATE DATABASE galaxy_flush_cost")
    try:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": "flush-cost-benchmark-secret-0123456789",
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        }
        migrate = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "migrate", cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL
        )
        if await migrate.wait():
            raise SystemExit("migrating the scratch database failed")
        await measure(url, args.docs, args.flushes, args.rounds)
    finally:
        await admin.execute("DROP DATABASE IF EXISTS galaxy_flush_cost WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
