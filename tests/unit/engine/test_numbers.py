"""One reading of numbers typed as text: validation and run time agree on every entry."""

from __future__ import annotations

from typing import Any

import pytest

from engine.graph import Graph, Node, Position
from engine.nodes.base import NodeFailed
from engine.resolve import resolve_inputs
from engine.spec import NodeSpec, PortSpec, PortType
from engine.values import check_input_value, parse_number_text

#       text            as a number      as a number where "%" is allowed
TABLE: list[tuple[str, Any, Any]] = [
    ("12.5", (12.5, False), (12.5, False)),
    (" 7 ", (7, False), (7, False)),
    ("-3", (-3, False), (-3, False)),
    ("0", (0, False), (0, False)),
    ("50%", None, (50, True)),
    (" 50 % ", None, (50, True)),
    ("12.5%", None, (12.5, True)),
    ("-5%", None, None),
    ("150%", None, (150, True)),  # read as a percentage; the range check refuses it
    ("1e3", None, None),
    ("1,000", None, None),
    ("12.5.3", None, None),
    ("", None, None),
    ("abc", None, None),
    ("٣", None, None),  # a non-ASCII digit
    ("1" * 16, None, None),
]


@pytest.mark.parametrize(("text", "plain", "with_percent"), TABLE)
def test_the_table(text: str, plain: Any, with_percent: Any) -> None:
    assert parse_number_text(text, allow_percent=False) == plain
    assert parse_number_text(text, allow_percent=True) == with_percent


def _port(allow_percent: bool) -> PortSpec:
    return PortSpec(name="n", type=PortType.NUMBER, label="N", editable=True, allow_percent=allow_percent)


@pytest.mark.parametrize("allow_percent", [False, True])
@pytest.mark.parametrize(("text", "plain", "with_percent"), TABLE)
def test_validation_and_run_time_agree(text: str, plain: Any, with_percent: Any, allow_percent: bool) -> None:
    port = _port(allow_percent)
    spec = NodeSpec(type="t", label="T", description="", category="test", version=1, inputs=(port,))
    node = Node(id="a", type="t", position=Position(x=0, y=0), data={"n": text})
    valid = check_input_value(port, text) is None
    try:
        resolved = resolve_inputs(node, spec, Graph(nodes={"a": node}).adjacency(), {})["n"]
    except NodeFailed:
        resolved = None
    expected = with_percent if allow_percent else plain
    assert (resolved is not None) == (expected is not None)
    if expected is not None and not expected[1]:
        assert resolved == expected[0]
    if not valid:  # whatever validation refuses, a run cannot use as intended either
        assert expected is None or (expected[1] and expected[0] > 100)
