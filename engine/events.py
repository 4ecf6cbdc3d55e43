"""Live run events, published by workers on the workflow's run channel as JSON text.

Every event carries the run id and `seq`, the run's event sequence number: 1, 2, 3, ... with no
gaps, assigned by the event sink when it publishes (callers construct events with seq 0). A
client that sees a gap knows it missed something and re-reads the run over REST.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import msgspec


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    PARTIAL = "partial"
    CANCELLED = "cancelled"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class NodeStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    CACHED = "cached"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


FINAL_NODE_STATUSES = frozenset(
    {NodeStatus.SUCCESS, NodeStatus.CACHED, NodeStatus.FAILED, NodeStatus.SKIPPED, NodeStatus.CANCELLED}
)


class RunEventBase(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    # `run_id` and `seq` come first in every encoded event (after the tag): sinks rely on it to
    # write the sequence number into an already encoded event.
    run_id: str
    seq: int = 0


class RunStarted(RunEventBase, frozen=True, kw_only=True, tag="run_started"):
    workflow_id: str
    scope: str
    trigger: str
    node_ids: list[str]
    at: datetime


class NodeStarted(RunEventBase, frozen=True, kw_only=True, tag="node_started"):
    node_id: str
    node_type: str
    attempt: int
    at: datetime


class NodeProgress(RunEventBase, frozen=True, kw_only=True, tag="node_progress"):
    node_id: str
    delta: str = ""
    data: dict[str, Any] | None = None


class NodeFinished(RunEventBase, frozen=True, kw_only=True, tag="node_finished"):
    node_id: str
    node_type: str
    status: NodeStatus
    outputs: dict[str, Any] = msgspec.field(default_factory=dict)
    error: str = ""
    error_detail: str = ""
    duration_ms: int | None = None
    at: datetime


class RunFinished(RunEventBase, frozen=True, kw_only=True, tag="run_finished"):
    status: RunStatus
    error: str = ""
    duration_ms: int | None = None
    at: datetime


RunEvent = RunStarted | NodeStarted | NodeProgress | NodeFinished | RunFinished

_decoder: msgspec.json.Decoder[RunEvent] = msgspec.json.Decoder(RunEvent)


def decode_event(raw: bytes | str) -> RunEvent:
    """Parse one published event."""
    event: RunEvent = _decoder.decode(raw)
    return event


def with_seq(event: RunEvent, seq: int) -> RunEvent:
    """A copy of `event` numbered `seq`."""
    return msgspec.structs.replace(event, seq=seq)
