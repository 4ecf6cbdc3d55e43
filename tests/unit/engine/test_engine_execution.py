"""One node execution: whatever an executor does becomes a result a person can act on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from engine_testkit import graph, node

from engine.events import NodeStatus
from engine.execution import invoke
from engine.nodes import NodeContext, NodeType
from engine.spec import NodeSpec, PortSpec, PortType
from engine.store import Claim, NodeResult, RunSnapshot

SPEC = NodeSpec(
    type="odd", label="Odd", description="test", category="test", version=1,
    outputs=(PortSpec(name="out", type=PortType.TEXT, label="Out"),),
)  # fmt: skip


async def _nothing(delta: str, data: Any) -> None:
    return None


def _run(execute: Any, timeout: float | None = None, worker_timeout: float = 5) -> NodeResult:
    async def upstream() -> dict[str, dict[str, Any]]:
        return {}

    g = graph([node("n", "odd")])
    return asyncio.run(
        invoke(
            snapshot=RunSnapshot(run_id="r", workflow_id="w", graph=g),
            adjacency=g.adjacency(),
            node_id="n",
            claim=Claim(attempt=1, started_at=datetime.now(UTC)),
            node_type=NodeType(SPEC, execute, timeout=timeout),
            upstream=upstream,
            on_progress=_nothing,
            worker_timeout=worker_timeout,
        )
    )


async def _own_timeout(ctx: NodeContext) -> dict[str, Any]:
    raise TimeoutError("the provider timed out")


async def _not_a_dict(ctx: NodeContext) -> Any:
    return ["out"]


async def _not_json(ctx: NodeContext) -> dict[str, Any]:
    return {"out": object()}


async def _slow(ctx: NodeContext) -> dict[str, Any]:
    await asyncio.sleep(5)
    return {"out": "late"}


@pytest.mark.parametrize(
    ("execute", "message"),
    [
        (_own_timeout, "failed unexpectedly"),
        (_not_a_dict, "produced no outputs"),
        (_not_json, "failed unexpectedly"),
    ],
)
def test_executor_misbehaviour_fails_the_node(execute: Any, message: str) -> None:
    result = _run(execute)
    assert result.status == NodeStatus.FAILED and message in result.error and result.cache_key == ""


def test_the_lower_of_the_type_and_worker_timeouts_applies() -> None:
    assert "within 0.02 seconds" in _run(_slow, timeout=0.02).error
    assert "within 0.03 seconds" in _run(_slow, timeout=10, worker_timeout=0.03).error
