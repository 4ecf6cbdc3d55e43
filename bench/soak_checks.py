"""The soak benchmark's end checks: convergence of the connected clients, every written key in
the stored document (read straight from Postgres), runs finished, ERROR lines in the logs."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from pycrdt import Doc, Map

from bench.soak_load import SOAK_MAP, Slot, SoakClient, Stats, percentile
from collab.protocol import decode_state_vector
from collab.store import load_document
from server.settings import PROJECT_ROOT

FINAL = {"success", "failed", "partial", "cancelled"}


def content_digest(doc: Doc[Any]) -> str:
    """A digest of everything in the document, equal for equal contents."""
    content = {name: doc.get(name, type=Map).to_py() for name in ("nodes", "edges", "meta", SOAK_MAP)}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _missing(client: SoakClient, written: set[str]) -> int:
    return len(written.difference(client.soak.keys()))


async def converge(slots: list[Slot], stats: Stats, patience: float = 60.0) -> dict[str, Any]:
    """Wait (up to `patience` seconds) until every connected client of each workflow holds every key written
    to it and the same state; then compare their whole contents."""
    clients: dict[str, list[SoakClient]] = defaultdict(list)
    for slot in slots:
        if slot.ready and slot.client is not None:
            clients[slot.workflow_id].append(slot.client)
    began = time.monotonic()
    first_check = None
    while True:
        pending = [
            workflow_id
            for workflow_id, group in clients.items()
            if len({frozenset(decode_state_vector(c.doc.get_state()).items()) for c in group}) > 1
            or any(_missing(c, stats.written[workflow_id]) for c in group)
        ]
        if first_check is None:
            first_check = len(pending)
        if not pending or time.monotonic() - began > patience:
            break
        await asyncio.sleep(0.5)
    digests = {workflow_id: {content_digest(c.doc) for c in group} for workflow_id, group in clients.items()}
    missing = {
        workflow_id: sum(_missing(c, stats.written[workflow_id]) for c in group)
        for workflow_id, group in clients.items()
    }
    diverged = [workflow_id for workflow_id, found in digests.items() if len(found) > 1]
    # Presence: every client should see the cursor of every other client of its workflow.
    unseen = [
        {"workflow": workflow_id, "viewer": c.writer, "viewer_url": c.url.split("/ws/")[0], "unseen": other.writer,
         "unseen_url": other.url.split("/ws/")[0], "viewer_joined_s": round(c.joined_at - stats.start, 1),
         "unseen_joined_s": round(other.joined_at - stats.start, 1), "unseen_cursor_moves": other.clock}
        for workflow_id, group in clients.items() for c in group for other in group
        if other is not c and other.doc.client_id not in c.awareness
    ]  # fmt: skip
    return {
        "workflows": len(clients),
        "clients": sum(len(group) for group in clients.values()),
        "seconds": round(time.monotonic() - began, 2),
        "workflows_pending_at_first_check": first_check,
        "missing_in_clients": sum(missing.values()),
        "missing_by_workflow": {w: n for w, n in missing.items() if n},
        "diverged_workflows": len(diverged),
        "diverged": diverged,
        "presence_pairs": sum(len(group) * (len(group) - 1) for group in clients.values()),
        "presence_missing": len(unseen),
        "presence_unseen": unseen[:50],
        "digests": {w: next(iter(found)) for w, found in digests.items() if len(found) == 1},
    }


async def _stored(connection: asyncpg.Connection, workflow_id: str) -> Doc[Any]:
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        row = await connection.fetchrow("SELECT snapshot, snapshot_seq FROM workflows WHERE id = $1", workflow_id)
        updates = await connection.fetch(
            "SELECT data FROM document_updates WHERE workflow = $1 AND id > $2 ORDER BY id",
            workflow_id,
            row["snapshot_seq"],
        )
    return load_document([part for part in [row["snapshot"], *(u["data"] for u in updates)] if part])


async def stored_keys(
    database_url: str, stats: Stats, digests: dict[str, str], patience: float = 30.0
) -> dict[str, Any]:
    """Read every document from Postgres until it holds every key written to it (or `patience` seconds)."""
    connection = await asyncpg.connect(database_url)
    began = time.monotonic()
    polls = []
    try:
        while True:
            missing: dict[str, list[str]] = {}
            different = []
            size = 0
            for workflow_id, keys in stats.written.items():
                doc = await _stored(connection, workflow_id)
                size += len(doc.get_update())
                lost = keys.difference(doc.get(SOAK_MAP, type=Map).keys())
                if lost:
                    missing[workflow_id] = sorted(lost)
                if workflow_id in digests and content_digest(doc) != digests[workflow_id]:
                    different.append(workflow_id)
            polls.append({
                "after_last_edit_s": round(time.time() - stats.last_edit, 2),
                "missing": sum(map(len, missing.values())),
                "differs_from_clients": len(different),
            })  # fmt: skip
            if (not missing and not different) or time.monotonic() - began > patience:
                break
            await asyncio.sleep(1)
    finally:
        await connection.close()
    return {
        "written": sum(len(keys) for keys in stats.written.values()),
        "missing": sum(len(keys) for keys in missing.values()),
        "missing_examples": {w: keys[:20] for w, keys in list(missing.items())[:10]},
        "differs_from_clients": different,
        "seconds_until_complete": round(time.monotonic() - began, 2),
        "polls": polls,
        "documents_bytes": size,
    }


async def runs_outcome(http: httpx.AsyncClient, runs: dict[str, str], patience: float = 120.0) -> dict[str, Any]:
    """Poll every started run until it is final (or `patience` seconds)."""
    details: dict[str, dict[str, Any]] = {}
    pending = set(runs)
    began = time.monotonic()
    while pending and time.monotonic() - began < patience:
        for run_id in list(pending):
            response = await http.get(f"/api/runs/{run_id}")
            if response.status_code == 200:
                details[run_id] = response.json()
                if details[run_id]["status"] in FINAL:
                    pending.discard(run_id)
        if pending:
            await asyncio.sleep(1)
    durations = [
        (datetime.fromisoformat(d["finished_at"]) - datetime.fromisoformat(d["started_at"])).total_seconds()
        for d in details.values()
        if d.get("finished_at") and d.get("started_at")
    ]
    return {
        "started": len(runs),
        "final": len(runs) - len(pending),
        "statuses": dict(Counter(d["status"] for d in details.values())),
        "not_final": sorted(pending)[:20],
        "duration_p50_s": percentile(durations, 50),
        "duration_p99_s": percentile(durations, 99),
    }


def scan_log(path: Path) -> dict[str, Any]:
    """ERROR (and worse) lines of a JSON log, lines that are not JSON and look like errors, and a
    count of warnings by event."""
    errors: list[str] = []
    warnings: Counter[str] = Counter()
    if path.name.startswith("redis"):
        return {"errors": errors, "warnings": {}}
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            if any(word in line for word in ("Traceback", "Error", "ERROR", "Exception")):
                errors.append(line)
            continue
        level = str(entry.get("level", "")).lower() if isinstance(entry, dict) else ""
        if level in {"error", "critical", "exception"}:
            errors.append(line)
        elif level == "warning":
            warnings[str(entry.get("event"))] += 1
    return {"errors": errors, "warnings": dict(warnings)}


def document_memory_mb(database_url: str) -> float | None:
    """How much memory the final documents take when loaded into a fresh process (every web
    process holds all of them while their clients are connected)."""
    result = subprocess.run([sys.executable, "-m", "bench.soak_checks", database_url], capture_output=True,
                            text=True, cwd=PROJECT_ROOT, check=False)  # fmt: skip
    try:
        return float(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


async def _load_all(database_url: str) -> list[Doc[Any]]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT id FROM workflows")
        return [await _stored(connection, row["id"]) for row in rows]
    finally:
        await connection.close()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    gc.collect()
    before = _rss_mb()
    docs = asyncio.run(_load_all(sys.argv[1]))
    gc.collect()
    print(round(_rss_mb() - before, 1))
