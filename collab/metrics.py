"""Counters of the collaboration layer, read by the server's Prometheus collector."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class HubMetrics:
    """Counters the server exposes to Prometheus (the library stays free of it)."""

    updates_applied: int = 0
    updates_stored: int = 0
    remote_updates: int = 0
    slow_clients_dropped: int = 0
    journal_failures: int = 0  # appends that failed (updates shown without journaling)
    journal_recovered: int = 0  # updates stored by the sweep for a process that did not
    spool_recovered: int = 0  # updates stored from the spool of a process that died
    unreadable_updates: int = 0  # remote updates the ordering guard could not read
    observe_fanout: Callable[[float], None] | None = None  # seconds from publish to apply elsewhere
