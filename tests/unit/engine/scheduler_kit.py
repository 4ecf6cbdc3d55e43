"""Test-only node types and a harness that runs plans on the in-memory twins."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.events import RunEvent
from engine.graph import Graph
from engine.memory import MemoryEvents, MemoryRunStore, TaskDispatcher
from engine.nodes import NodeContext, NodeFailed, NodeType, node_types
from engine.plan import CachedOutput, Scope, plan_run
from engine.registry import NodeRegistry, registry_of
from engine.scheduler import RunScheduler
from engine.spec import NodeSpec, ParamKind, ParamSpec, PortSpec, PortType
from engine.store import RunSnapshot

TEXT_IN = PortSpec(name="a", type=PortType.TEXT, label="A")
TEXT_OUT = (PortSpec(name="out", type=PortType.TEXT, label="Out"),)


def _spec(node_type: str, *params: ParamSpec, inputs: tuple[PortSpec, ...] = (TEXT_IN,)) -> NodeSpec:
    return NodeSpec(
        type=node_type,
        label=node_type,
        description="test",
        category="test",
        version=1,
        inputs=inputs,
        outputs=TEXT_OUT,
        params=params,
    )


@dataclass
class Recorder:
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    executions: dict[str, int] = field(default_factory=dict)
    starts: dict[str, asyncio.Event] = field(default_factory=dict)

    def started(self, node_id: str) -> asyncio.Event:
        return self.starts.setdefault(node_id, asyncio.Event())


def kit_node_types(recorder: Recorder) -> dict[str, NodeType]:
    seconds = ParamSpec(name="seconds", kind=ParamKind.NUMBER, label="s", default=0.0, minimum=0, maximum=60)

    async def sleep(ctx: NodeContext) -> dict[str, Any]:
        start = time.monotonic()
        recorder.executions[ctx.node_id] = recorder.executions.get(ctx.node_id, 0) + 1
        recorder.started(ctx.node_id).set()
        await ctx.progress(delta="z")
        await asyncio.sleep(float(ctx.params["seconds"]))
        recorder.intervals[ctx.node_id] = (start, time.monotonic())
        return {"out": f"{ctx.inputs.get('a') or ''}{ctx.node_id}"}

    async def fail(ctx: NodeContext) -> dict[str, Any]:
        raise NodeFailed(f"{ctx.node_id} failed on purpose", detail="test")

    async def concat(ctx: NodeContext) -> dict[str, Any]:
        return {"out": "+".join(str(v) for v in ctx.inputs["parts"])}

    parts = PortSpec(name="parts", type=PortType.TEXT, label="Parts", multiple=True)
    return node_types(
        [
            NodeType(_spec("sleep", seconds), sleep),
            NodeType(_spec("fail"), fail),
            NodeType(_spec("concat", inputs=(parts,)), concat),
            NodeType(_spec("slow", seconds), sleep, timeout=0.05),
        ]
    )


class Harness:
    def __init__(self, types: Mapping[str, NodeType], workers: int = 1, **options: Any) -> None:
        self.registry: NodeRegistry = registry_of(types)
        self.store = MemoryRunStore()
        self.events = MemoryEvents()
        self.dispatcher = TaskDispatcher()
        self.schedulers = [
            RunScheduler(
                store=self.store,
                events=self.events,
                dispatcher=self.dispatcher,
                node_types=types,
                worker_id=f"w{i}",
                **options,
            )
            for i in range(workers)
        ]
        self.dispatcher.target = self.schedulers[0]
        self.latest: dict[str, CachedOutput] = {}

    async def lookup(self, node_ids: Any) -> dict[str, CachedOutput]:
        return {n: self.latest[n] for n in node_ids if n in self.latest}

    async def run(self, graph: Graph, scope: Scope = Scope.FULL, node_ids: tuple[str, ...] = (), **inputs: str) -> str:
        run_id = await self.submit(graph, scope, node_ids, **inputs)
        await self.dispatcher.drain()
        self.remember(run_id)
        return run_id

    async def submit(
        self, graph: Graph, scope: Scope = Scope.FULL, node_ids: tuple[str, ...] = (), **inputs: str
    ) -> str:
        plan = await plan_run(graph, self.registry, scope, node_ids, inputs, self.lookup)
        run_id = str(uuid.uuid4())
        self.store.add(RunSnapshot(run_id=run_id, workflow_id="wf", graph=graph, inputs=inputs), plan)
        await self.dispatcher.start_run(run_id)
        return run_id

    def remember(self, run_id: str) -> None:
        for node in self.store.runs[run_id].nodes.values():
            if node.result is not None and node.status == "success":
                self.latest[node.node_id] = CachedOutput(node.result.cache_key, node.result.outputs)

    def statuses(self, run_id: str) -> dict[str, str]:
        return {n: str(node.status) for n, node in self.store.runs[run_id].nodes.items()}

    def run_events(self, run_id: str) -> list[RunEvent]:
        return [e for e in self.events.events if e.run_id == run_id]
