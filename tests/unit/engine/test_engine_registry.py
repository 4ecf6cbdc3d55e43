from __future__ import annotations

import pytest

from engine.registry import NodeRegistry, builtin_registry
from engine.spec import MAX_TEXT_LENGTH, NodeSpec, ParamKind, PortType


def _spec(node_type: str) -> NodeSpec:
    return NodeSpec(type=node_type, label=node_type, description="", category="test", version=1)


def test_registry_lookup_order_and_membership() -> None:
    registry = NodeRegistry([_spec("b"), _spec("a")])
    assert [spec.type for spec in registry] == ["b", "a"]
    assert registry.specs() == (registry.get("b"), registry.get("a"))
    assert registry.types() == ("b", "a")
    assert "a" in registry
    assert "c" not in registry
    assert 3 not in registry
    assert registry.get("c") is None
    assert len(registry) == 2


def test_duplicate_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="'a'"):
        NodeRegistry([_spec("a"), _spec("a")])


def test_registry_is_immutable() -> None:
    registry = NodeRegistry([_spec("a")])
    with pytest.raises(AttributeError):
        registry._specs = ()


def _ports(node_type: str) -> tuple[list[tuple[str, PortType, bool]], list[tuple[str, PortType]]]:
    spec = builtin_registry().get(node_type)
    assert spec is not None
    return (
        [(p.name, p.type, p.required) for p in spec.inputs],
        [(p.name, p.type) for p in spec.outputs],
    )


def test_builtin_types_and_labels() -> None:
    registry = builtin_registry()
    assert [(s.type, s.label, s.category) for s in registry] == [
        ("text", "Text", "inputs"),
        ("upload_image", "Upload Image", "inputs"),
        ("upload_video", "Upload Video", "inputs"),
        ("llm", "Run LLM", "ai"),
        ("crop_image", "Crop Image", "image"),
        ("extract_frame", "Extract Frame", "video"),
    ]
    assert all(spec.version >= 1 and spec.description for spec in registry)


def test_builtin_ports_match_the_spec_table() -> None:
    assert _ports("text") == ([], [("text", PortType.TEXT)])
    assert _ports("upload_image") == ([], [("image", PortType.IMAGE)])
    assert _ports("upload_video") == ([], [("video", PortType.VIDEO)])
    assert _ports("llm") == (
        [
            ("system_prompt", PortType.TEXT, False),
            ("user_message", PortType.TEXT, True),
            ("images", PortType.IMAGE, False),
        ],
        [("output", PortType.TEXT)],
    )
    assert _ports("crop_image") == (
        [
            ("image_url", PortType.IMAGE, True),
            ("x_percent", PortType.NUMBER, False),
            ("y_percent", PortType.NUMBER, False),
            ("width_percent", PortType.NUMBER, False),
            ("height_percent", PortType.NUMBER, False),
        ],
        [("output", PortType.IMAGE)],
    )
    assert _ports("extract_frame") == (
        [("video_url", PortType.VIDEO, True), ("timestamp", PortType.NUMBER, False)],
        [("output", PortType.IMAGE)],
    )


def test_builtin_params_and_defaults() -> None:
    registry = builtin_registry()
    text, image, video, llm, crop, frame = registry.specs()
    assert [(p.name, p.kind, p.default) for p in text.params] == [
        ("text", ParamKind.TEXT, ""),
        ("input_name", ParamKind.STRING, ""),
    ]
    assert text.params[0].max_length == MAX_TEXT_LENGTH
    assert text.params[1].pattern == "[A-Za-z_][A-Za-z0-9_]{0,63}"
    assert [(p.name, p.kind, p.default) for p in image.params] == [("media_id", ParamKind.MEDIA, "")]
    assert [(p.name, p.kind, p.default) for p in video.params] == [("media_id", ParamKind.MEDIA, "")]
    model, temperature = llm.params
    assert (model.name, model.kind, model.default) == ("model", ParamKind.MODEL, "")
    assert (temperature.kind, temperature.default, temperature.minimum, temperature.maximum) == (
        ParamKind.NUMBER,
        0.7,
        0,
        2,
    )
    images = llm.input("images")
    assert images is not None and images.multiple and not images.editable
    user_message = llm.input("user_message")
    assert user_message is not None and user_message.editable and user_message.multiline
    assert crop.defaults() == {
        "label": "Crop Image",
        "x_percent": 0,
        "y_percent": 0,
        "width_percent": 100,
        "height_percent": 100,
    }
    assert all(p.minimum == 0 and p.maximum == 100 for p in crop.inputs[1:])
    timestamp = frame.input("timestamp")
    assert timestamp is not None
    assert (timestamp.allow_percent, timestamp.editable, timestamp.default, timestamp.minimum) == (
        True,
        True,
        0,
        0,
    )


def test_only_declared_multiple_input_is_images() -> None:
    multiple = [(s.type, p.name) for s in builtin_registry() for p in s.inputs if p.multiple]
    assert multiple == [("llm", "images")]
