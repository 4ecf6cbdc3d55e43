from __future__ import annotations

import re

import msgspec
import pytest

from engine.registry import builtin_registry
from engine.spec import (
    NodeSpec,
    ParamKind,
    ParamSpec,
    PortSpec,
    PortType,
    can_connect,
)
from server.settings import PROJECT_ROOT

ALLOWED = {
    (PortType.TEXT, PortType.TEXT),
    (PortType.TEXT, PortType.NUMBER),
    (PortType.NUMBER, PortType.NUMBER),
    (PortType.IMAGE, PortType.IMAGE),
    (PortType.VIDEO, PortType.VIDEO),
}


@pytest.mark.parametrize("source", list(PortType))
@pytest.mark.parametrize("target", list(PortType))
def test_can_connect_table(source: PortType, target: PortType) -> None:
    assert can_connect(source, target) == ((source, target) in ALLOWED)


def _ts_union(source: str, name: str) -> list[str]:
    match = re.search(rf"export type {name} = ([^\n]+)", source)
    assert match, f"static/src/editor/specs.ts declares no {name}"
    return re.findall(r"'([a-z_]+)'", match.group(1))


def test_the_editor_knows_exactly_the_port_types_and_parameter_kinds_the_engine_serves() -> None:
    editor = (PROJECT_ROOT / "static" / "src" / "editor" / "specs.ts").read_text()
    assert _ts_union(editor, "PortType") == [t.value for t in PortType]
    assert _ts_union(editor, "ParamKind") == [k.value for k in ParamKind]
    for field in msgspec.structs.fields(PortSpec):
        assert re.search(rf"\n  {field.encode_name}: ", editor), f"PortSpec.{field.name} is missing in the editor"
    for field in msgspec.structs.fields(ParamSpec):
        assert re.search(rf"\n  {field.encode_name}: ", editor), f"ParamSpec.{field.name} is missing in the editor"


def _sample() -> NodeSpec:
    return NodeSpec(
        type="sample",
        label="Sample",
        description="A sample node.",
        category="test",
        version=3,
        inputs=(
            PortSpec(name="a", type=PortType.TEXT, label="A", editable=True, default="x"),
            PortSpec(name="b", type=PortType.IMAGE, label="B"),
            PortSpec(name="c", type=PortType.NUMBER, label="C", editable=True),
        ),
        outputs=(PortSpec(name="out", type=PortType.TEXT, label="Out"),),
        params=(
            ParamSpec(name="p", kind=ParamKind.NUMBER, label="P", default=1.5),
            ParamSpec(name="q", kind=ParamKind.BOOLEAN, label="Q", default=False),
            ParamSpec(name="r", kind=ParamKind.STRING, label="R"),
        ),
    )


def test_lookups() -> None:
    spec = _sample()
    assert spec.input("a") is spec.inputs[0]
    assert spec.input("out") is None
    assert spec.output("out") is spec.outputs[0]
    assert spec.output("a") is None
    assert spec.param("q") is spec.params[1]
    assert spec.param("a") is None


def test_data_keys_are_params_editable_inputs_and_label() -> None:
    assert _sample().data_keys() == frozenset({"p", "q", "r", "a", "c", "label"})


def test_defaults_skip_none_and_include_falsy_values() -> None:
    assert _sample().defaults() == {"label": "Sample", "p": 1.5, "q": False, "a": "x"}


def test_defaults_of_builtin_llm() -> None:
    spec = builtin_registry().get("llm")
    assert spec is not None
    assert spec.defaults() == {
        "label": "Run LLM",
        "model": "",
        "temperature": 0.7,
        "system_prompt": "",
        "user_message": "",
    }


def test_specs_are_frozen_and_round_trip_through_json() -> None:
    spec = _sample()
    with pytest.raises(AttributeError):
        spec.version = 4  # type: ignore[misc]
    encoded = msgspec.json.encode(spec)
    assert msgspec.json.decode(encoded, type=NodeSpec) == spec
    assert b'"type":"number"' in encoded
