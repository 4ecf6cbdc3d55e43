from __future__ import annotations

import asyncio

from engine_testkit import edge, graph, node
from scheduler_kit import Harness, Recorder, kit_node_types

from engine.events import NodeFinished, NodeProgress, NodeStarted, NodeStatus, RunFinished, RunStarted
from engine.plan import Scope, plan_run
from engine.store import RunSnapshot


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


def test_a_run_is_announced_with_its_cached_nodes_before_any_node_starts() -> None:
    harness = Harness(kit_node_types(Recorder()))
    g = graph([node("a", "sleep"), node("b", "sleep"), node("c", "sleep")], [edge("e1", "a", "out", "b", "a")])

    async def scenario() -> tuple[str, str]:
        first = await harness.run(g)  # a and c ready at once: announced before c goes to the queue
        return first, await harness.run(g, Scope.SINGLE, ("b",))  # a cached, b the only ready node

    first, single = asyncio.run(scenario())
    events = harness.run_events(first)
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert sorted(e.node_id for e in events if isinstance(e, NodeStarted)) == ["a", "b", "c"]
    events = [e for e in harness.run_events(single) if not isinstance(e, NodeProgress)]
    assert [type(e).__name__ for e in events] == [
        "RunStarted",
        "NodeFinished",
        "NodeStarted",
        "NodeFinished",
        "RunFinished",
    ]
    cached, started = events[1], events[2]
    assert isinstance(cached, NodeFinished) and (cached.node_id, cached.status) == ("a", NodeStatus.CACHED)
    assert isinstance(started, NodeStarted) and started.node_id == "b"
    assert [e.seq for e in events[:3]] == [1, 2, 3]


def test_a_start_job_run_again_after_the_run_began_carries_on_without_a_second_announcement() -> None:
    harness = Harness(kit_node_types(Recorder()))
    g = graph([node("a", "sleep"), node("b", "sleep")], [edge("e1", "a", "out", "b", "a")])

    async def scenario() -> None:
        plan = await plan_run(g, harness.registry, Scope.FULL, (), {}, harness.lookup)
        harness.store.add(RunSnapshot(run_id="r", workflow_id="wf", graph=g), plan)
        assert await harness.store.begin("r") is not None  # the first attempt began the run, then died
        assert await harness.store.begin("r") is None
        await harness.schedulers[0].start_run("r")
        await harness.dispatcher.drain()

    asyncio.run(scenario())
    assert _statuses(harness, "r") == {"a": "success", "b": "success"}
    kinds = [type(e).__name__ for e in harness.run_events("r")]
    assert "RunStarted" not in kinds and kinds[-1] == "RunFinished"


def _statuses(harness: Harness, run_id: str) -> dict[str, str]:
    return harness.statuses(run_id)


def test_a_failure_skips_only_its_descendants() -> None:
    harness = Harness(kit_node_types(Recorder()))
    g = graph(
        [node("bad", "fail"), node("after", "sleep"), node("later", "sleep"), node("ok", "sleep")],
        [edge("e1", "bad", "out", "after", "a"), edge("e2", "after", "out", "later", "a")],
    )
    run_id = asyncio.run(harness.run(g))
    assert _statuses(harness, run_id) == {"bad": "failed", "after": "skipped", "later": "skipped", "ok": "success"}
    assert harness.store.runs[run_id].status == "partial"
    skipped = [e for e in harness.run_events(run_id) if isinstance(e, NodeFinished) and e.status == "skipped"]
    assert {e.node_id for e in skipped} == {"after", "later"}


def test_a_node_over_its_timeout_fails_with_the_limit_in_its_message() -> None:
    harness = Harness(kit_node_types(Recorder()))
    run_id = asyncio.run(harness.run(graph([node("slow", "slow", seconds=5)])))
    result = harness.store.runs[run_id].nodes["slow"].result
    assert result is not None and result.status == "failed" and "within 0.05 seconds" in result.error
    assert harness.store.runs[run_id].status == "failed"


def test_the_worker_timeout_caps_every_node() -> None:
    harness = Harness(kit_node_types(Recorder()), node_timeout=0.05)
    run_id = asyncio.run(harness.run(graph([node("s", "sleep", seconds=5)])))
    result = harness.store.runs[run_id].nodes["s"].result
    assert result is not None and "within 0.05 seconds" in result.error


def test_cancel_stops_running_nodes_and_cancels_pending_ones() -> None:
    recorder = Recorder()
    harness = Harness(kit_node_types(recorder))
    g = graph([node("long", "sleep", seconds=5), node("next", "sleep")], [edge("e1", "long", "out", "next", "a")])

    async def scenario() -> str:
        run_id = await harness.submit(g)
        await recorder.started("long").wait()
        harness.store.cancel(run_id)
        harness.schedulers[0].cancel_local(run_id)
        await harness.dispatcher.drain()
        return run_id

    run_id = asyncio.run(scenario())
    assert _statuses(harness, run_id) == {"long": "cancelled", "next": "cancelled"}
    assert harness.store.runs[run_id].status == "cancelled"
    assert "long" not in recorder.intervals  # it never finished its sleep


def test_a_cancel_that_lands_between_a_claim_and_the_node_starting_still_ends_the_run() -> None:
    # The node's task is cancelled before it first runs: that is the run being cancelled, not
    # this worker stopping, so the node must end cancelled rather than be handed back as pending
    # (where nothing would ever run or finish it, and the run would stay running for good).
    recorder = Recorder()
    harness = Harness(kit_node_types(recorder))
    claim = harness.store.claim

    async def claim_then_cancel(run_id: str, *args: object, **kwargs: object) -> object:
        claims = await claim(run_id, *args, **kwargs)  # type: ignore[arg-type]
        if claims:
            harness.store.cancel(run_id)
            harness.schedulers[0].cancel_local(run_id)
        return claims

    harness.store.claim = claim_then_cancel  # type: ignore[method-assign,assignment]

    async def scenario() -> str:
        run_id = await harness.submit(graph([node("long", "sleep", seconds=5)]))
        await harness.dispatcher.drain()
        return run_id

    run_id = asyncio.run(scenario())
    assert _statuses(harness, run_id) == {"long": "cancelled"}
    assert harness.store.runs[run_id].status == "cancelled"
    assert "long" not in recorder.intervals


def test_nodes_of_a_dead_worker_are_reclaimed_and_run_again() -> None:
    recorder = Recorder()
    harness = Harness(kit_node_types(recorder), lease_seconds=0.05)
    g = graph([node("a", "sleep"), node("b", "sleep")], [edge("e1", "a", "out", "b", "a")])

    async def scenario() -> str:
        run_id = "r1"
        plan = await plan_run(g, harness.registry, Scope.FULL, (), {}, harness.lookup)
        harness.store.add(RunSnapshot(run_id=run_id, workflow_id="wf", graph=g), plan)
        await harness.store.begin(run_id)
        # A worker claims `a` and dies without renewing its lease.
        assert await harness.store.claim(run_id, ["a"], "dead", 0.01)
        await asyncio.sleep(0.03)
        await harness.schedulers[0].reap(idle_seconds=60)
        await harness.dispatcher.drain()
        return run_id

    run_id = asyncio.run(scenario())
    assert _statuses(harness, run_id) == {"a": "success", "b": "success"}
    assert harness.store.runs[run_id].nodes["a"].attempt == 2 and recorder.executions == {"a": 1, "b": 1}


def test_a_node_interrupted_too_often_fails_instead_of_running_again() -> None:
    harness = Harness(kit_node_types(Recorder()), max_attempts=1)

    async def scenario() -> str:
        g = graph([node("a", "sleep")])
        plan = await plan_run(g, harness.registry, Scope.FULL, (), {}, harness.lookup)
        harness.store.add(RunSnapshot(run_id="r", workflow_id="wf", graph=g), plan)
        await harness.store.begin("r")
        await harness.store.claim("r", ["a"], "dead", 0.0)
        await asyncio.sleep(0.01)
        await harness.schedulers[0].reap(idle_seconds=60)
        await harness.dispatcher.drain()
        return "r"

    run_id = asyncio.run(scenario())
    result = harness.store.runs[run_id].nodes["a"].result
    assert result is not None and result.status == "failed" and "interrupted 1 times" in result.error


def test_several_schedulers_share_one_run_and_each_node_runs_once() -> None:
    recorder = Recorder()
    harness = Harness(kit_node_types(recorder), workers=3)
    fan = [node(f"s{i}", "sleep", seconds=0.01) for i in range(12)]
    g = graph(
        [node("root", "sleep"), *fan, node("join", "concat")],
        [edge(f"a{i}", "root", "out", f"s{i}", "a") for i in range(12)]
        + [edge(f"b{i}", f"s{i}", "out", "join", "parts") for i in range(12)],
    )
    # Work handed to the queue goes to the schedulers in turn, as idle workers would take it.
    turn = iter(range(10_000))
    original = harness.dispatcher.run_nodes

    async def round_robin(run_id: str, nodes: list[tuple[str, int]]) -> None:
        for node_id, attempt in nodes:
            harness.dispatcher.target = harness.schedulers[next(turn) % 3]
            await original(run_id, [(node_id, attempt)])

    harness.dispatcher.run_nodes = round_robin  # type: ignore[method-assign]
    run_id = asyncio.run(harness.run(g))
    assert harness.store.runs[run_id].status == "success"
    assert set(recorder.executions.values()) == {1} and len(recorder.executions) == 13
    joined = harness.store.runs[run_id].nodes["join"].result
    assert joined is not None and joined.outputs["out"].count("+") == 11


def test_an_unknown_node_type_fails_its_node_with_a_remedy() -> None:
    types = kit_node_types(Recorder())
    harness = Harness(types)
    worker_types = {k: v for k, v in types.items() if k != "concat"}
    harness.schedulers[0].node_types = worker_types
    run_id = asyncio.run(harness.run(graph([node("c", "concat")])))
    result = harness.store.runs[run_id].nodes["c"].result
    assert result is not None and "this worker does not know" in result.error


def test_a_stopping_worker_hands_its_running_node_back() -> None:
    recorder = Recorder()
    harness = Harness(kit_node_types(recorder))

    async def scenario() -> str:
        run_id = await harness.submit(graph([node("long", "sleep", seconds=0.2)]))
        await recorder.started("long").wait()
        for task in list(harness.dispatcher.tasks):
            task.cancel()  # what arq does to running jobs when the worker stops
        await asyncio.sleep(0)
        await harness.dispatcher.drain_ignoring_cancelled()
        return run_id

    run_id = asyncio.run(scenario())
    long = harness.store.runs[run_id].nodes["long"]
    assert long.status == "success" and long.attempt == 1  # the interrupted attempt does not count
    assert recorder.executions == {"long": 2}
