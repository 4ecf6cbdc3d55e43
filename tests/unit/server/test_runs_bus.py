"""The pure parts of the run bus: numbering an encoded event, and grouping ready nodes into jobs."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from engine.events import NodeFinished, NodeStatus, RunStarted, decode_event, with_seq
from server.runs.bus import MAX_BATCH, batches, split_for_seq


def test_the_sequence_number_is_spliced_into_the_encoded_event() -> None:
    tricky = NodeFinished(
        run_id="r1",
        node_id="n",
        node_type="text",
        status=NodeStatus.SUCCESS,
        outputs={"text": '"seq":-1 and "seq": 5'},
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    for event in (
        tricky,
        RunStarted(run_id="r1", workflow_id="w", scope="full", trigger="api", node_ids=[], at=tricky.at),
    ):
        head, tail = split_for_seq(event)
        raw = head + b"42" + tail
        assert decode_event(raw) == with_seq(event, 42)
        assert msgspec.json.decode(raw)["type"] in {"node_finished", "run_started"}


def test_ready_nodes_are_spread_over_at_least_four_jobs_of_bounded_size() -> None:
    nodes = [(f"n{i}", 0) for i in range(7)]
    assert [len(b) for b in batches(nodes)] == [2, 2, 2, 1]
    assert [len(b) for b in batches(nodes[:1])] == [1]
    wide = batches([(f"n{i}", 0) for i in range(997)])
    assert max(len(b) for b in wide) == MAX_BATCH and sum(len(b) for b in wide) == 997
