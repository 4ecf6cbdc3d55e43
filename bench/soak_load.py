"""The load of the soak benchmark (`bench/soak.py`): y-websocket clients that write verifiable
edits, move nodes and cursors, come and go, and runs started over the REST API.

Every edit writes a unique key `<writer>:<seq>` whose value is the writer's send time into the
document's `soak` map (not `nodes`, which is capped at MAX_NODES), and moves a node in the same
transaction. Every other client of the workflow that receives the key through an update records
the fan-out latency (sender and receiver run in this process, so their clocks agree).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from pycrdt import Doc, Map, MapEvent, TransactionEvent

from collab import protocol
from tests.collab_client import YClient

SOAK_MAP = "soak"
NODE_IDS = ("t1", "t2", "s", "c")


def percentile(values: list[float], p: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 2)
    return round(statistics.quantiles(values, n=100, method="inclusive")[p - 1], 2)


def fold_tail(per_minute: dict[int, list[float]], minutes: float) -> None:
    """Count the values of a last partial minute (the load stopping) to the minute before."""
    last = max(0, math.ceil(minutes) - 1)
    for minute in [m for m in per_minute if m > last]:
        per_minute[last].extend(per_minute.pop(minute))


@dataclass
class Stats:
    """Everything the load measures; `start` is the epoch second the load began."""

    start: float
    fanout: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))  # minute → ms
    loop_lag: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))  # minute → ms
    join_ms: list[float] = field(default_factory=list)
    written: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # workflow → keys
    edits: int = 0
    last_edit: float = 0.0
    presence_moves: int = 0
    joins: int = 0
    leaves: int = 0
    unexpected_closes: list[dict[str, Any]] = field(default_factory=list)
    connect_failures: list[str] = field(default_factory=list)
    runs: dict[str, str] = field(default_factory=dict)  # run id → workflow id
    run_start_failures: list[str] = field(default_factory=list)

    def minute(self, at: float) -> int:
        return int((at - self.start) // 60)

    def fanout_per_minute(self, minutes: float) -> list[dict[str, Any]]:
        """Per minute of send time; the last seconds (sent as the load stopped) count to the last minute."""
        fold_tail(self.fanout, minutes)
        return [
            {
                "minute": m,
                "samples": len(v),
                "p50_ms": percentile(v, 50),
                "p99_ms": percentile(v, 99),
                "max_ms": round(max(v), 2),
            }
            for m, v in sorted(self.fanout.items())
        ]


class SoakClient(YClient):
    """A YClient that writes verifiable edits, moves its cursor and can leave without losing a frame."""

    def __init__(self, url: str, writer: str, stats: Stats, doc: Doc[Any] | None = None) -> None:
        super().__init__(url, doc=doc, open_timeout=60)
        self.writer = writer
        self.stats = stats
        self.seq = 0
        self.clock = 0
        self.leaving = False
        self.joined_at = 0.0
        self.soak: Map[Any] = self.doc.get(SOAK_MAP, type=Map)
        self._sending: set[asyncio.Task[None]] = set()
        self._soak_subscription = self.soak.observe(self._on_soak)

    def _on_change(self, event: TransactionEvent) -> None:
        if self._applying or self._ws is None or event.update == b"\x00\x00":
            return
        task = asyncio.get_running_loop().create_task(self._send(protocol.sync_update(event.update)))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def _on_soak(self, event: MapEvent[Any]) -> None:
        # Only keys that arrive as updates after the initial sync are fan-out; the sync itself
        # brings the history.
        if not (self._applying and self.synced.is_set()):
            return
        now = time.time()
        for change in event.keys.values():
            sent = change.get("newValue")
            if change.get("action") == "add" and isinstance(sent, float):
                self.stats.fanout[self.stats.minute(sent)].append((now - sent) * 1000)

    def edit(self, rng: random.Random) -> str:
        """Write one unique key (with its send time) and move a node, in one update."""
        self.seq += 1
        key = f"{self.writer}:{self.seq}"
        with self.doc.transaction():
            self.soak[key] = time.time()
            node = self.nodes.get(rng.choice(NODE_IDS))
            if isinstance(node, Map):
                node["position"] = {"x": round(rng.uniform(0, 900), 1), "y": round(rng.uniform(0, 600), 1)}
        return key

    async def move_cursor(self, rng: random.Random) -> None:
        self.clock += 1
        cursor = {"x": round(rng.uniform(0, 900), 1), "y": round(rng.uniform(0, 600), 1)}
        await self.set_presence(self.doc.client_id, self.clock, {"user": {"name": self.writer}, "cursor": cursor})

    async def flush(self) -> None:
        """Wait until every update made so far has been handed to the socket."""
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    def detach(self) -> None:
        """Stop following the document (its next connection takes over)."""
        self.doc.unobserve(self._subscription)
        self.soak.unobserve(self._soak_subscription)

    async def leave(self) -> None:
        """Leave as an editor tab does: every edit sent, presence cleared, socket closed."""
        self.leaving = True
        await self.flush()
        self.clock += 1
        await self.set_presence(self.doc.client_id, self.clock, None)
        await self.close()
        self.detach()


@dataclass
class Slot:
    """One of the sockets of a workflow; whoever holds it comes and goes, always on the same process."""

    workflow_id: str
    url: str
    client: SoakClient | None = None

    @property
    def ready(self) -> bool:
        client = self.client
        return client is not None and client.synced.is_set() and not client.closed.is_set() and not client.leaving


class Load:
    """Drives the slots: edits, presence, runs, and people joining and leaving."""

    def __init__(
        self,
        slots: list[Slot],
        stats: Stats,
        http: list[httpx.AsyncClient],
        *,
        edit_rate: float,
        presence_every: float,
        run_every: float,
        churn_every: float,
        seed: int = 7,
    ) -> None:
        self.slots = slots
        self.stats = stats
        self.http = http
        self.edit_rate = edit_rate
        self.presence_every = presence_every
        self.run_every = run_every
        self.churn_every = churn_every
        self.rng = random.Random(seed)
        self.by_workflow: dict[str, list[Slot]] = defaultdict(list)
        for slot in slots:
            self.by_workflow[slot.workflow_id].append(slot)
        self.stopping = asyncio.Event()
        self._writers = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._replacing: set[asyncio.Task[None]] = set()

    def _writer_name(self) -> str:
        self._writers += 1
        return f"w{self._writers}"

    async def join(self, slot: Slot, doc: Doc[Any] | None = None, writer: str | None = None, seq: int = 0) -> None:
        """Open a new socket for the slot and wait for its first sync (retrying refusals)."""
        for _ in range(60):
            client = SoakClient(slot.url, writer or self._writer_name(), self.stats, doc=doc)
            client.seq = seq
            began = time.monotonic()
            try:
                await client.connect()
                await client.wait_synced(timeout=60)
            except (OSError, TimeoutError, websockets.WebSocketException) as err:
                self.stats.connect_failures.append(f"{time.time() - self.stats.start:.1f}s {type(err).__name__}: {err}")
                with contextlib.suppress(Exception):
                    await client.close()
                client.detach()
                await asyncio.sleep(1)
                continue
            if self._tasks:  # joins while the load runs (not the initial connect)
                self.stats.join_ms.append((time.monotonic() - began) * 1000)
            self.stats.joins += 1
            client.joined_at = time.time()
            slot.client = client
            if self._tasks:  # an editor shows its cursor as soon as it has the document
                await client.move_cursor(self.rng)
            return

    async def start(self) -> None:
        """Connect every slot (fifty at a time), then start the load."""
        for first in range(0, len(self.slots), 50):
            await asyncio.gather(*(self.join(slot) for slot in self.slots[first : first + 50]))
        self._tasks = [
            *(asyncio.create_task(self._keep(slot)) for slot in self.slots),
            *(asyncio.create_task(self._edit(workflow_id)) for workflow_id in self.by_workflow),
            asyncio.create_task(self._runs()),
            asyncio.create_task(self._churn()),
            asyncio.create_task(self._lag()),
        ]

    async def stop(self) -> None:
        """Stop the load; every client still connected stays connected, its edits all sent."""
        self.stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*self._replacing, return_exceptions=True)
        await asyncio.gather(*(slot.client.flush() for slot in self.slots if slot.client is not None))

    async def close_all(self) -> None:
        await asyncio.gather(
            *(slot.client.leave() for slot in self.slots if slot.client is not None), return_exceptions=True
        )

    def _jitter(self, seconds: float) -> float:
        return seconds * self.rng.uniform(0.5, 1.5)

    async def _keep(self, slot: Slot) -> None:
        """Move the cursor now and then; reconnect (with the same document) a socket the server closed."""
        await asyncio.sleep(self.rng.uniform(0, self.presence_every))
        while True:
            client = slot.client
            if client is not None and client.closed.is_set() and not client.leaving:
                self.stats.unexpected_closes.append(
                    {
                        "at_s": round(time.time() - self.stats.start, 1),
                        "workflow": slot.workflow_id,
                        "code": client.close_code,
                        "reason": client.close_reason,
                    }
                )
                client.detach()
                slot.client = None
                self._track(self.join(slot, doc=client.doc, writer=client.writer, seq=client.seq))
            elif slot.ready and client is not None:
                await client.move_cursor(self.rng)
                self.stats.presence_moves += 1
            await asyncio.sleep(self._jitter(self.presence_every))

    async def _edit(self, workflow_id: str) -> None:
        slots = self.by_workflow[workflow_id]
        while True:
            await asyncio.sleep(self._jitter(1 / self.edit_rate))
            ready = [slot for slot in slots if slot.ready]
            if ready:
                client = self.rng.choice(ready).client
                assert client is not None
                self.stats.written[workflow_id].add(client.edit(self.rng))
                self.stats.edits += 1
                self.stats.last_edit = time.time()

    async def _churn(self) -> None:
        """Every second or so one person closes their tab and someone else opens the workflow."""
        while True:
            await asyncio.sleep(self._jitter(self.churn_every))
            ready = [slot for slot in self.slots if slot.ready]
            if ready:
                self._track(self._replace(self.rng.choice(ready)))

    def _track(self, job: Coroutine[Any, Any, None]) -> None:
        """Run a leave/join in the background; `stop` waits for it, so no slot is left half-done."""
        task = asyncio.create_task(job)
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    async def _replace(self, slot: Slot) -> None:
        client = slot.client
        assert client is not None
        await client.leave()
        self.stats.leaves += 1
        slot.client = None
        await self.join(slot)

    async def _runs(self) -> None:
        workflow_ids = list(self.by_workflow)
        count = 0
        while True:
            await asyncio.sleep(self._jitter(self.run_every))
            workflow_id = self.rng.choice(workflow_ids)
            count += 1
            try:
                response = await self.http[count % len(self.http)].post(f"/api/workflows/{workflow_id}/runs", json={})
            except httpx.HTTPError as err:
                self.stats.run_start_failures.append(f"{type(err).__name__}: {err}")
                continue
            if response.status_code == 202:
                self.stats.runs[response.json()["id"]] = workflow_id
            else:
                self.stats.run_start_failures.append(f"{response.status_code}: {response.text[:300]}")

    async def _lag(self) -> None:
        """How late this process's event loop wakes up (a busy harness inflates its latencies)."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.1)
            self.stats.loop_lag[self.stats.minute(time.time())].append((time.monotonic() - before - 0.1) * 1000)
