"""Planning (scopes, cache reuse), input resolution and cache keys."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import pytest
from engine_testkit import edge, graph, node
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.graph import Graph
from engine.nodes import NodeFailed
from engine.plan import CachedOutput, Plan, Scope, ScopeError, plan_run
from engine.registry import builtin_registry
from engine.resolve import cache_key, effective_params, resolve_inputs
from engine.validate import ProblemCode, validate_graph

REGISTRY = builtin_registry()


def _pipeline() -> Graph:
    """t (a workflow input) → llm a → llm b, and s → llm b's system prompt."""
    return graph(
        [node("t", "text", text="hi", input_name="topic"), node("s", "text", text="be brief"), node("a", "llm"),
         node("b", "llm")],
        [edge("e1", "t", "text", "a", "user_message"), edge("e2", "a", "output", "b", "user_message"),
         edge("e3", "s", "text", "b", "system_prompt")],
    )  # fmt: skip


def _plan(g: Graph, scope: Scope, ids: tuple[str, ...] = (), latest: dict[str, CachedOutput] | None = None,
          **inputs: str) -> Plan:  # fmt: skip
    async def lookup(node_ids: Collection[str]) -> dict[str, CachedOutput]:
        return {n: v for n, v in (latest or {}).items() if n in node_ids}

    return asyncio.run(plan_run(g, REGISTRY, scope, ids, inputs, lookup))


def _key(g: Graph, node_id: str, upstream: dict[str, dict[str, str]], **inputs: str) -> str:
    n = g.nodes[node_id]
    spec = REGISTRY.get(n.type)
    assert spec is not None
    params = effective_params(n, spec, inputs)
    return cache_key(spec, params, resolve_inputs(n, spec, g.adjacency(), upstream))


def test_a_full_run_executes_everything_and_counts_what_each_node_waits_for() -> None:
    plan = _plan(_pipeline(), Scope.FULL)
    assert plan.executed() == ["s", "t", "a", "b"] and plan.cached() == []
    assert {n: p.waits_for for n, p in plan.nodes.items()} == {"s": 0, "t": 0, "a": 1, "b": 2}


def test_a_single_run_reuses_upstream_outputs_whose_cache_key_still_matches() -> None:
    g = _pipeline()
    latest = {
        "t": CachedOutput(_key(g, "t", {}), {"text": "hi"}),
        "s": CachedOutput(_key(g, "s", {}), {"text": "be brief"}),
        "a": CachedOutput(_key(g, "a", {"t": {"text": "hi"}}), {"output": "A"}),
    }
    plan = _plan(g, Scope.SINGLE, ("b",), latest)
    assert plan.cached() == ["s", "t", "a"] and plan.executed() == ["b"]
    assert plan.nodes["a"].outputs == {"output": "A"} and plan.nodes["b"].waits_for == 0
    # The run's input changes the Text node's key: it and everything fed by it run again.
    plan = _plan(g, Scope.SINGLE, ("b",), latest, topic="other")
    assert plan.cached() == ["s"] and plan.executed() == ["t", "a", "b"]
    assert plan.nodes["b"].waits_for == 1


def test_a_stale_upstream_output_is_not_reused() -> None:
    g = _pipeline()
    latest = {"t": CachedOutput("stale", {"text": "old"}), "a": CachedOutput("stale", {"output": "A"})}
    plan = _plan(g, Scope.SELECTED, ("a", "b"), latest)
    assert plan.cached() == [] and sorted(plan.executed()) == ["a", "b", "s", "t"]


def test_a_selected_run_covers_only_the_selection_and_its_upstream() -> None:
    plan = _plan(_pipeline(), Scope.SELECTED, ("a",))
    assert sorted(plan.nodes) == ["a", "t"] and plan.targets == ["a"]


@pytest.mark.parametrize(
    ("scope", "ids", "message"),
    [
        (Scope.FULL, ("a",), "takes no node_ids"),
        (Scope.SINGLE, (), "exactly one"),
        (Scope.SINGLE, ("a", "b"), "exactly one"),
        (Scope.SELECTED, (), "at least one"),
        (Scope.SELECTED, ("a", "ghost"), "'ghost'"),
    ],
)
def test_malformed_scopes_are_refused(scope: Scope, ids: tuple[str, ...], message: str) -> None:
    with pytest.raises(ScopeError, match=message):
        _plan(_pipeline(), scope, ids)


def test_an_empty_workflow_has_nothing_to_run() -> None:
    with pytest.raises(ScopeError, match="no nodes"):
        _plan(graph([]), Scope.FULL)


def test_numbers_fed_by_text_are_parsed_at_run_time() -> None:
    g = graph(
        [node("t", "text", text="2.5"), node("p", "text", text="50%"), node("c", "crop_image"),
         node("f", "extract_frame")],
        [edge("e1", "t", "text", "c", "x_percent"), edge("e2", "p", "text", "f", "timestamp")],
    )  # fmt: skip
    adjacency = g.adjacency()
    crop, frame = REGISTRY.get("crop_image"), REGISTRY.get("extract_frame")
    assert crop is not None and frame is not None
    values = resolve_inputs(g.nodes["c"], crop, adjacency, {"t": {"text": " 2.5 "}})
    assert values["x_percent"] == 2.5 and values["width_percent"] == 100 and values["image_url"] is None
    assert resolve_inputs(g.nodes["f"], frame, adjacency, {"p": {"text": "50%"}})["timestamp"] == "50%"
    with pytest.raises(NodeFailed, match="'x_percent' of node c received 'abc', which is not a number"):
        resolve_inputs(g.nodes["c"], crop, adjacency, {"t": {"text": "abc"}})


def test_multi_valued_inputs_get_every_connection_in_edge_order() -> None:
    g = graph(
        [node("i1", "upload_image"), node("i2", "upload_image"), node("l", "llm")],
        [edge("e2", "i1", "image", "l", "images"), edge("e1", "i2", "image", "l", "images")],
    )
    llm = REGISTRY.get("llm")
    assert llm is not None
    values = resolve_inputs(g.nodes["l"], llm, g.adjacency(), {"i1": {"image": "one"}, "i2": {"image": "two"}})
    assert values["images"] == ["two", "one"]


def test_cache_keys_ignore_ordering_and_change_with_any_ingredient() -> None:
    spec = REGISTRY.get("llm")
    assert spec is not None
    base = cache_key(spec, {"model": "m", "temperature": 0.7}, {"user_message": "hi"})
    assert base == cache_key(spec, {"temperature": 0.7, "model": "m"}, {"user_message": "hi"})
    assert base != cache_key(spec, {"model": "m", "temperature": 0.8}, {"user_message": "hi"})
    assert base != cache_key(spec, {"model": "m", "temperature": 0.7}, {"user_message": "hello"})


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["connected", "typed", "blank"]), min_size=1, max_size=12))
def test_before_a_run_exactly_the_unfed_required_inputs_are_reported(kinds: list[str]) -> None:
    nodes = [node("src", "text", text="x")]
    edges = []
    for index, kind in enumerate(kinds):
        data = {"user_message": "typed"} if kind == "typed" else {"user_message": "  "} if kind == "blank" else {}
        nodes.append(node(f"l{index:02d}", "llm", **data))
        if kind == "connected":
            edges.append(edge(f"e{index:02d}", "src", "text", f"l{index:02d}", "user_message"))
    problems = validate_graph(graph(nodes, edges), REGISTRY, require_inputs=True)
    assert all(p.code == ProblemCode.MISSING_REQUIRED_INPUT and p.field == "user_message" for p in problems)
    assert [p.node_id for p in problems] == [f"l{i:02d}" for i, kind in enumerate(kinds) if kind == "blank"]
    assert validate_graph(graph(nodes, edges), REGISTRY) == []
