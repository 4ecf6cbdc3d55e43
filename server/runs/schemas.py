"""Wire types of the runs API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from engine.events import NodeStatus, RunStatus
from engine.nodes.text import INPUT_NAME_PATTERN
from engine.spec import MAX_TEXT_LENGTH
from server.workflows.format import GraphJson

NodeId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
InputName = Annotated[str, msgspec.Meta(pattern=f"^{INPUT_NAME_PATTERN}$")]
# Postgres cannot store NUL in text, and no input needs one.
InputValue = Annotated[str, msgspec.Meta(max_length=MAX_TEXT_LENGTH, pattern="^[^\x00]*$")]
MAX_NODE_IDS = 10_000


class RunCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Start a run: every node (`full`), the `selected` nodes, or a `single` node; `inputs` fill
    the workflow's named Text inputs."""

    scope: Literal["full", "selected", "single"] = "full"
    node_ids: Annotated[list[NodeId], msgspec.Meta(max_length=MAX_NODE_IDS)] = msgspec.field(default_factory=list)
    inputs: Annotated[dict[InputName, InputValue], msgspec.Meta(max_length=100)] = msgspec.field(default_factory=dict)


class Actor(msgspec.Struct):
    id: UUID
    name: str


class RunHook(msgspec.Struct):
    """The webhook that started a run."""

    id: UUID
    name: str


class RunSummary(msgspec.Struct, kw_only=True):
    id: UUID
    workflow_id: UUID
    status: RunStatus
    scope: str
    trigger: str
    actor: Actor | None
    hook: RunHook | None
    node_ids: list[str]
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None


class RunPage(msgspec.Struct):
    items: list[RunSummary]
    next_cursor: str | None


class NodeRunOut(msgspec.Struct, kw_only=True):
    node_id: str
    node_type: str
    status: NodeStatus
    attempt: int
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    error: str
    error_detail: str
    usage: dict[str, Any]
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    # The text a running node has streamed so far (an LLM's answer as it grows); empty otherwise.
    streamed: str = ""


class RunDetail(RunSummary, kw_only=True):
    # The last run event this record reflects: apply the run's events after it, in order.
    seq: int
    inputs: dict[str, str]
    graph: GraphJson
    nodes: list[NodeRunOut]
    outputs: dict[str, dict[str, Any]]
    outputs_by_label: dict[str, dict[str, Any]]
