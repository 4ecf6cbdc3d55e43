"""Run LLM: a prompt (and images) sent through litellm, streamed back token by token.

The body comes with the LLM issue; it will call `ctx.progress(delta=token)` for each token.
"""

from __future__ import annotations

from engine.nodes.base import NodeType, not_available
from engine.spec import MAX_TEXT_LENGTH, NodeSpec, ParamKind, ParamSpec, PortSpec, PortType

SPEC = NodeSpec(
    type="llm",
    label="Run LLM",
    description="Sends a prompt, and optionally images, to a language model and streams its answer.",
    category="ai",
    version=1,
    inputs=(
        PortSpec(
            name="system_prompt",
            type=PortType.TEXT,
            label="System prompt",
            editable=True,
            default="",
            multiline=True,
            max_length=MAX_TEXT_LENGTH,
        ),
        PortSpec(
            name="user_message",
            type=PortType.TEXT,
            label="User message",
            required=True,
            editable=True,
            default="",
            multiline=True,
            max_length=MAX_TEXT_LENGTH,
        ),
        PortSpec(name="images", type=PortType.IMAGE, label="Images", multiple=True),
    ),
    outputs=(PortSpec(name="output", type=PortType.TEXT, label="Output"),),
    params=(
        ParamSpec(
            name="model",
            kind=ParamKind.MODEL,
            label="Model",
            default="",
            description="The model to call; empty means the server's default model.",
        ),
        ParamSpec(
            name="temperature",
            kind=ParamKind.NUMBER,
            label="Temperature",
            default=0.7,
            minimum=0,
            maximum=2,
        ),
    ),
)

NODE = NodeType(SPEC, not_available(SPEC))
