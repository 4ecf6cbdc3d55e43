"""Prometheus metrics of the collaboration layer and the event loop (HTTP metrics come from
Litestar's plugin)."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Iterator

from prometheus_client import REGISTRY, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from collab.hub import Hub

FANOUT_LATENCY = Histogram(
    "galaxy_collab_fanout_seconds",
    "Time from one web process publishing a document update to another applying it.",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)

LOOP_LAG = Histogram(
    "galaxy_event_loop_lag_seconds",
    "How late the event loop woke a task that asked to sleep (work blocking the loop shows here).",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
LAG_PROBE_INTERVAL = 0.1


async def measure_loop_lag(interval: float = LAG_PROBE_INTERVAL) -> None:
    """Sleep `interval` again and again, recording how much later than asked each wake-up came."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(interval)
        LOOP_LAG.observe(max(0.0, time.perf_counter() - started - interval))


class CollabCollector(Collector):
    """Reads the live hubs of this process at scrape time."""

    def __init__(self) -> None:
        self.hubs: weakref.WeakSet[Hub] = weakref.WeakSet()

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        hubs = list(self.hubs)
        yield GaugeMetricFamily("galaxy_ws_connections", "Open WebSocket connections.", value=sum(
            h.connection_count() for h in hubs))  # fmt: skip
        yield GaugeMetricFamily("galaxy_collab_rooms", "Documents open in this process.", value=sum(
            len(h.rooms) for h in hubs))  # fmt: skip
        for name, attribute, text in (
            ("galaxy_collab_updates", "updates_applied", "Document updates accepted from local clients."),
            ("galaxy_collab_updates_stored", "updates_stored", "Document updates written to the log."),
            ("galaxy_collab_remote_updates", "remote_updates", "Document updates received from other processes."),
            ("galaxy_ws_slow_clients_dropped", "slow_clients_dropped", "Connections closed for not keeping up."),
            ("galaxy_collab_journal_failures", "journal_failures", "Updates shown without a journal entry."),
            ("galaxy_collab_journal_recovered", "journal_recovered", "Journaled updates stored by the sweep."),
            ("galaxy_collab_spool_recovered", "spool_recovered", "Updates stored from a dead process's spool."),
            (
                "galaxy_collab_unreadable_updates",
                "unreadable_updates",
                "Remote updates the order guard could not read.",
            ),
        ):
            yield CounterMetricFamily(name, text, value=sum(getattr(h.metrics, attribute) for h in hubs))


COLLECTOR = CollabCollector()
REGISTRY.register(COLLECTOR)


def watch(hub: Hub) -> None:
    """Include `hub` in this process's metrics."""
    hub.metrics.observe_fanout = FANOUT_LATENCY.observe
    COLLECTOR.hubs.add(hub)
