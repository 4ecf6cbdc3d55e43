from __future__ import annotations

import asyncio

from engine_testkit import edge, graph, node
from scheduler_kit import Harness, Recorder, kit_node_types

from engine.events import RunFinished, RunStarted


def _two_branches() -> object:
    return graph(
        [
            node("a1", "sleep", seconds=0.05),
            node("a2", "sleep", seconds=0.05),
            node("b1", "sleep", seconds=0.08),
            node("join", "concat"),
        ],
        [
            edge("e1", "a1", "out", "a2", "a"),
            edge("e2", "a2", "out", "join", "parts"),
            edge("e3", "b1", "out", "join", "parts"),
        ],
    )


def test_branches_overlap_and_the_join_waits_for_both() -> None:
    recorder = Recorder()
    harness = Harness(kit_node_types(recorder))
    run_id = asyncio.run(harness.run(_two_branches()))  # type: ignore[arg-type]
    assert harness.store.runs[run_id].status == "success"
    a1, a2, b1 = (recorder.intervals[n] for n in ("a1", "a2", "b1"))
    assert a1[0] < b1[1] and b1[0] < a1[1]  # a1 and b1 overlap
    assert a2[0] >= a1[1]
    result = harness.store.runs[run_id].nodes["join"].result
    assert result is not None and result.outputs == {"out": "a1a2+b1"}
    assert result.started_at >= harness.store.runs[run_id].nodes["b1"].result.finished_at  # type: ignore[union-attr]


def test_events_are_numbered_without_gaps() -> None:
    harness = Harness(kit_node_types(Recorder()))
    run_id = asyncio.run(harness.run(_two_branches()))  # type: ignore[arg-type]
    events = harness.run_events(run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
