"""The Yjs v1 update reader against updates that pycrdt itself makes, for every kind of content."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text

from collab.protocol import ProtocolError, decode_state_vector, var_uint
from collab.updates import check_update, delete_set_digest, has_gap, update_starts


def doc(client_id: int) -> Doc[Any]:
    return Doc(client_id=client_id)


EDITS: dict[str, Callable[[Doc[Any]], None]] = {
    "map entries": lambda d: d.get("nodes", type=Map).update({"a": 1, "b": "two", "c": None, "d": 2.5, "e": True}),
    "nested maps": lambda d: d.get("nodes", type=Map).__setitem__("n", Map({"data": Map({"x": Map({"y": 1})})})),
    "text inserts": lambda d: d.get("text", type=Text).insert(0, "hello wörld ✓"),
    "text deletes": lambda d: d.get("text", type=Text).__delitem__(slice(0, 3)),
    "arrays": lambda d: d.get("list", type=Array).extend([1, "x", [1, 2], {"k": "v"}, b"\x00\xff"]),
    "map deletions": lambda d: d.get("nodes", type=Map).pop("a", None),
    "nested json": lambda d: d.get("meta", type=Map).__setitem__("deep", {"a": [{"b": {"c": [1, 2, 3]}}]}),
}


@pytest.mark.parametrize("edit", list(EDITS), ids=list(EDITS))
def test_starts_are_the_clocks_an_incremental_update_begins_at(edit: str) -> None:
    source = doc(7)
    source.get("text", type=Text).insert(0, "prefix text")
    source.get("nodes", type=Map)["a"] = 0
    before = source.get_state()
    EDITS[edit](source)
    update = source.get_update(before)
    check_update(update)
    starts = update_starts(update)
    clocks = decode_state_vector(before)
    assert all(clock == clocks.get(client, 0) for client, clock in starts.items())
    assert not has_gap(update, clocks)
    if starts:  # an update made after more edits starts past an empty document
        assert has_gap(update, {})


def test_several_clients_and_a_whole_document() -> None:
    a, b = doc(1), doc(2)
    for d, name in ((a, "a"), (b, "b")):
        d.get("nodes", type=Map)[name] = Map({"text": Text(name * 3)})
    b.apply_update(a.get_update())
    a.apply_update(b.get_update())
    del a.get("nodes", type=Map)["b"]
    whole = a.get_update()
    check_update(whole)
    assert set(update_starts(whole)) == {1, 2}
    assert all(clock == 0 for clock in update_starts(whole).values())
    after_b = b.get_state()
    b.get("nodes", type=Map)["late"] = 1  # an update from b's state holds only b's new struct
    assert update_starts(b.get_update(after_b)) == {2: decode_state_vector(after_b)[2]}


def test_the_delete_set_digest_sees_deletions_a_state_vector_does_not() -> None:
    a, b = doc(1), doc(2)
    a.get("nodes", type=Map)["x"] = 1
    b.apply_update(a.get_update())
    assert delete_set_digest(a) == delete_set_digest(b)
    a.get("text", type=Text).insert(0, "abc")
    b.apply_update(a.get_update())
    del a.get("text", type=Text)[0:1]
    # b has not seen the deletion: same clocks for client 1 apart from it, different digests
    assert delete_set_digest(a) != delete_set_digest(b)
    b.apply_update(a.get_update(b.get_state()))
    assert delete_set_digest(a) == delete_set_digest(b)


@pytest.mark.parametrize(
    "update",
    [
        var_uint(1 << 28) + b"\x01\x02",  # 2^28 clients in a few bytes
        b"\x01" + var_uint(1 << 28) + b"\x01\x00",  # 2^28 structs
        b"\x00" + var_uint(1 << 28) + b"\x01",  # a delete set of 2^28 clients
        b"\x00\x01\x05" + var_uint(1 << 28),  # 2^28 deleted ranges
        b"\x01\x01\x07\x00\x08" + var_uint(1 << 28),  # an item claiming 2^28 values
        b"\x01\x01\x07\x00\x04\x01\x05nodes\x01",  # truncated after the parent
        b"\x00\x00\x00",  # trailing bytes
        b"\x01\x01\x07\x00\x1f",  # an unknown content type
    ],
)
def test_malformed_or_lying_updates_are_refused_before_anything_is_allocated(update: bytes) -> None:
    with pytest.raises(ProtocolError):
        check_update(update)
