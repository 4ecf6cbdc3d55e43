"""Run LLM: a prompt (and images) sent through litellm, streamed back token by token.

litellm is imported the first time an LLM node runs (in a thread: the import takes seconds), so
a web process, which only needs the spec, never loads it. Images arrive inline as base64 data
URLs read through `ctx.media`; the provider is never handed a URL to fetch. Token deltas become
`ctx.progress(delta=...)` events, coalesced to one per 50 ms. Rate limits are retried with
exponential backoff before any token arrived; every call carries a timeout.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import io
import os
import random
from typing import Any

from engine.nodes.base import MediaNotFound, NodeContext, NodeFailed, NodeType, Outputs
from engine.nodes.llm_config import LLMConfig, provider_of
from engine.nodes.llm_errors import is_rate_limit, to_failure
from engine.nodes.streaming import Coalescer
from engine.spec import MAX_TEXT_LENGTH, NodeSpec, ParamKind, ParamSpec, PortSpec, PortType

PROGRESS_INTERVAL = 0.05
MAX_IMAGE_SIDE = 2048  # what the common providers take without shrinking it themselves
MAX_IMAGE_BYTES = 4 * 1024 * 1024
MAX_RETRY_WAIT = 30.0
PASSED_THROUGH = {"image/jpeg", "image/png", "image/webp", "image/gif"}

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


async def load_litellm() -> Any:
    """litellm, imported on first use (without its network fetch of the price list)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    module: Any = await asyncio.to_thread(importlib.import_module, "litellm")
    module.telemetry = False
    module.suppress_debug_info = True
    return module


def choose_model(ctx: NodeContext, config: LLMConfig) -> str:
    chosen = str(ctx.params.get("model") or "").strip()
    if not chosen:
        chosen = config.default()
        if not chosen:
            raise NodeFailed(config.no_provider_message())
        return chosen
    if chosen not in config.offered():
        offered = ", ".join(config.available()) or "none (" + config.no_provider_message() + ")"
        raise NodeFailed(
            f"Node {ctx.node_id} asks for the model {chosen}, which this server does not offer: {offered}."
        )
    missing = config.missing_key(chosen)
    if missing is not None:
        raise NodeFailed(f"The model {chosen} needs {missing}, which is not set on the workers; set it and run again.")
    return chosen


def shrink_image(data: bytes, content_type: str) -> tuple[bytes, str]:
    """The image as a provider takes it: passed through when small enough, else scaled down to
    fit MAX_IMAGE_SIDE and re-encoded (JPEG, or PNG when it has transparency)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        small = max(image.size) <= MAX_IMAGE_SIDE and len(data) <= MAX_IMAGE_BYTES
        if small and content_type in PASSED_THROUGH:
            return data, content_type
        image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
        out = io.BytesIO()
        if image.mode in ("RGBA", "LA") or "transparency" in image.info:
            image.save(out, "PNG")
            return out.getvalue(), "image/png"
        image.convert("RGB").save(out, "JPEG", quality=85)
        return out.getvalue(), "image/jpeg"


async def image_parts(ctx: NodeContext) -> list[dict[str, Any]]:
    parts = []
    for position, ref in enumerate(ctx.inputs.get("images") or []):
        media_id = ref.get("media_id") if isinstance(ref, dict) else None
        if not isinstance(media_id, str):
            raise NodeFailed(f"Image {position + 1} connected to node {ctx.node_id} has no file.")
        store = ctx.media_store()
        try:
            info = await store.info(media_id)
        except MediaNotFound:
            raise NodeFailed(
                f"Image {position + 1} connected to node {ctx.node_id} is not available to this workflow; "
                "upload it again on the node that provides it.",
                detail=f"media {media_id} not usable in workflow {ctx.workflow_id}",
            ) from None
        data = await store.read(media_id)
        sent, content_type = await ctx.offload(shrink_image, data, info.content_type)
        url = f"data:{content_type};base64,{base64.b64encode(sent).decode()}"
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


async def build_messages(ctx: NodeContext) -> list[dict[str, Any]]:
    system = str(ctx.inputs.get("system_prompt") or "")
    user = str(ctx.inputs.get("user_message") or "")
    if not user.strip():
        raise NodeFailed(f"The user message of node {ctx.node_id} is empty; type one or connect a text to it.")
    images = await image_parts(ctx)
    messages: list[dict[str, Any]] = []
    if system.strip():
        messages.append({"role": "system", "content": system})
    content: Any = [{"type": "text", "text": user}, *images] if images else user
    messages.append({"role": "user", "content": content})
    return messages


def _retry_wait(err: BaseException, attempt: int, config: LLMConfig) -> float:
    response = getattr(err, "response", None)
    header = getattr(response, "headers", {}).get("retry-after") if response is not None else None
    try:
        if header is not None:
            return min(MAX_RETRY_WAIT, max(0.0, float(header)))
    except ValueError:
        pass
    return min(MAX_RETRY_WAIT, config.retry_delay * 2.0 ** (attempt - 1) * (1 + random.random() / 4))


def _usage(litellm: Any, model: str, usage: Any, attempts: int) -> dict[str, Any]:
    recorded: dict[str, Any] = {"model": model, "attempts": attempts}
    if usage is None:
        return recorded
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    recorded.update(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=prompt, completion_tokens=completion
        )
        recorded["cost_usd"] = round(float(prompt_cost) + float(completion_cost), 8)
    except Exception:  # litellm has no price for this model (local or unknown): cost stays unknown
        recorded["cost_usd"] = None
    return recorded


async def call_model(ctx: NodeContext, config: LLMConfig, model: str, messages: list[dict[str, Any]]) -> str:
    litellm = await load_litellm()
    options: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "timeout": config.timeout,
        "temperature": float(ctx.params.get("temperature", 0.7)),
        "num_retries": 0,  # retries are ours (rate limits only, before any token arrived)
        "max_retries": 0,
    }
    if provider_of(model) == "openai" and config.base_url:
        options.update(api_base=config.base_url, api_key=config.api_key or "unused")
    coalescer = Coalescer(lambda text: ctx.progress(delta=text), PROGRESS_INTERVAL)
    pieces: list[str] = []
    attempts = 0
    usage: Any = None
    finish = ""
    try:
        while True:
            attempts += 1
            try:
                stream = await litellm.acompletion(**options)
                async for chunk in stream:
                    usage = getattr(chunk, "usage", None) or usage
                    for choice in chunk.choices or []:
                        finish = getattr(choice, "finish_reason", None) or finish
                        delta = getattr(choice.delta, "content", None) if choice.delta else None
                        if delta:
                            pieces.append(delta)
                            await coalescer.add(delta)
                break
            except asyncio.CancelledError:
                raise
            except Exception as err:
                if is_rate_limit(litellm, err) and not pieces and attempts <= config.max_retries:
                    await asyncio.sleep(_retry_wait(err, attempts, config))
                    continue
                raise to_failure(litellm, err, model=model, config=config, attempts=attempts) from err
        await coalescer.close()
    except BaseException:
        coalescer.discard()
        raise
    finally:
        ctx.usage.update(_usage(litellm, model, usage, attempts))
    text = "".join(pieces)
    if not text and finish == "content_filter":
        raise NodeFailed("The provider refused to answer under its content policy; change the prompt or images.")
    return text


def executor(config: LLMConfig) -> Any:
    async def execute(ctx: NodeContext) -> Outputs:
        model = choose_model(ctx, config)
        messages = await build_messages(ctx)
        return {"output": await call_model(ctx, config, model, messages)}

    return execute


def node(config: LLMConfig) -> NodeType:
    """The LLM node type calling the models `config` offers (with a timeout covering retries)."""
    budget = config.timeout * (config.max_retries + 1) + MAX_RETRY_WAIT * config.max_retries
    return NodeType(SPEC, executor(config), timeout=budget)


NODE = node(LLMConfig())
