"""Test-only node types, loaded by servers and workers through GALAXY_EXTRA_NODES.

Every execution is appended to the file named by GALAXY_TEST_NODE_LOG (when set) as
"<event> <run id> <node id> <attempt> <pid>", so tests can count executions across processes.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from engine.nodes import NodeContext, NodeFailed, NodeType
from engine.spec import NodeSpec, ParamKind, ParamSpec, PortSpec, PortType

LOG_VARIABLE = "GALAXY_TEST_NODE_LOG"

_IN = PortSpec(name="a", type=PortType.TEXT, label="A")
_MANY = PortSpec(name="parts", type=PortType.TEXT, label="Parts", multiple=True)
_OUT = (PortSpec(name="out", type=PortType.TEXT, label="Out"),)
_SECONDS = ParamSpec(name="seconds", kind=ParamKind.NUMBER, label="Seconds", default=0.0, minimum=0, maximum=60)


def _spec(node_type: str, inputs: tuple[PortSpec, ...], *params: ParamSpec) -> NodeSpec:
    return NodeSpec(
        type=node_type,
        label=node_type.capitalize(),
        description="A node type for tests.",
        category="test",
        version=1,
        inputs=inputs,
        outputs=_OUT,
        params=params,
    )


def record(event: str, ctx: NodeContext) -> None:
    path = os.environ.get(LOG_VARIABLE)
    if path:
        with open(path, "a") as log:
            log.write(f"{event} {ctx.run_id} {ctx.node_id} {ctx.attempt} {os.getpid()}\n")


async def sleep(ctx: NodeContext) -> dict[str, Any]:
    record("start", ctx)
    await ctx.progress(delta=f"{ctx.node_id}…")
    await asyncio.sleep(float(ctx.params["seconds"]))
    record("end", ctx)
    return {"out": f"{ctx.inputs.get('a') or ''}{ctx.node_id};"}


async def fail(ctx: NodeContext) -> dict[str, Any]:
    raise NodeFailed(f"Node {ctx.node_id} failed on purpose.", detail="test failure")


async def concat(ctx: NodeContext) -> dict[str, Any]:
    record("end", ctx)
    return {"out": "+".join(str(part) for part in ctx.inputs["parts"])}


async def noop(ctx: NodeContext) -> dict[str, Any]:
    return {"out": ""}


NODES = [
    NodeType(_spec("sleep", (_IN,), _SECONDS), sleep),
    NodeType(_spec("slow", (_IN,), _SECONDS), sleep, timeout=0.3),
    NodeType(_spec("fail", (_IN,)), fail),
    NodeType(_spec("concat", (_MANY,)), concat),
    NodeType(_spec("noop", (_MANY,)), noop),
]
