"""Text: a piece of text typed on the node, or filled in by an API or webhook run (§5)."""

from __future__ import annotations

from engine.nodes.base import NodeContext, NodeType, Outputs
from engine.spec import MAX_TEXT_LENGTH, NodeSpec, ParamKind, ParamSpec, PortSpec, PortType

INPUT_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,63}"

SPEC = NodeSpec(
    type="text",
    label="Text",
    description="A piece of text typed on the node, or filled in by an API or webhook run.",
    category="inputs",
    version=1,
    outputs=(PortSpec(name="text", type=PortType.TEXT, label="Text"),),
    params=(
        ParamSpec(
            name="text",
            kind=ParamKind.TEXT,
            label="Text",
            default="",
            max_length=MAX_TEXT_LENGTH,
        ),
        ParamSpec(
            name="input_name",
            kind=ParamKind.STRING,
            label="Input name",
            default="",
            pattern=INPUT_NAME_PATTERN,
            description="Makes this node a workflow input that API and webhook runs may fill.",
        ),
    ),
)


async def execute(ctx: NodeContext) -> Outputs:
    # The planner already put a run input in place of the typed text (it is part of the cache key).
    return {"text": str(ctx.params.get("text", ""))}


NODE = NodeType(SPEC, execute)
