"""Pure parts of the media and LLM nodes: pixel rounding, crop checks, timestamps, which models
are usable, and the coalescing of streamed text."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from engine.nodes import crop, frame
from engine.nodes.base import NodeContext, NodeFailed
from engine.nodes.llm_config import LLMConfig, provider_of
from engine.nodes.streaming import Coalescer


def ctx(spec: Any, **inputs: Any) -> NodeContext:
    return NodeContext(run_id="r", workflow_id="w", node_id="n1", spec=spec, params={}, inputs=inputs)


@pytest.mark.parametrize(
    ("start", "length", "size", "edges"),
    [
        (0, 100, 200, (0, 200)),
        (10, 80, 960, (96, 864)),
        (25, 50, 3, (1, 2)),  # 0.75 → 1 and 2.25 → 2
        (50, 0.1, 10, (5, 6)),  # never less than one pixel
        (99.99, 0.01, 10, (9, 10)),  # the last pixel, not past the edge
        (12.5, 25, 4, (1, 2)),  # halves round up: 0.5 → 1, 1.5 → 2
    ],
)
def test_pixel_edges(start: float, length: float, size: int, edges: tuple[int, int]) -> None:
    assert crop.pixel_edges(start, length, size) == edges


def test_crop_rectangle_names_the_value_and_the_limit() -> None:
    good = ctx(crop.SPEC, x_percent=10, y_percent=10.5, width_percent=90, height_percent=89.5)
    assert crop.crop_rectangle(good) == (10, 10.5, 90, 89.5)
    cases = [
        ({"x_percent": 60, "width_percent": 50}, "X (60%) plus width (50%) of node n1 is 110%"),
        ({"y_percent": 1, "height_percent": 100}, "Y (1%) plus height (100%)"),
        ({"width_percent": 0}, "Width of node n1 is 0%"),
        ({"x_percent": -1}, "X of node n1 is -1%; it must be between 0% and 100%"),
        ({"height_percent": True}, "must be a number"),
    ]
    for change, message in cases:
        inputs = {"x_percent": 0, "y_percent": 0, "width_percent": 100, "height_percent": 100, **change}
        with pytest.raises(NodeFailed, match=message.replace("(", r"\(").replace(")", r"\)")):
            crop.crop_rectangle(ctx(crop.SPEC, **inputs))


def test_timestamps_in_seconds_or_percent() -> None:
    assert frame.parse_timestamp(ctx(frame.SPEC, timestamp=12.5)) == (12.5, False)
    assert frame.parse_timestamp(ctx(frame.SPEC, timestamp="50%")) == (50.0, True)
    assert frame.parse_timestamp(ctx(frame.SPEC, timestamp=None)) == (0.0, False)
    for bad in ("120%", -1, "soon", float("nan")):
        with pytest.raises(NodeFailed, match="Timestamp of node n1"):
            frame.parse_timestamp(ctx(frame.SPEC, timestamp=bad))


def test_models_are_offered_only_with_their_provider_configured() -> None:
    config = LLMConfig(
        models=("gemini/gemini-2.0-flash", "openai/gpt-4o-mini", "ollama_chat/llama3.2"),
        default_model="openai/gpt-4o-mini",
        provider_keys=frozenset({"GEMINI_API_KEY"}),
    )
    assert config.available() == ["gemini/gemini-2.0-flash", "ollama_chat/llama3.2"]
    assert config.default() == "gemini/gemini-2.0-flash"  # the configured default has no key
    assert config.missing_key("openai/gpt-4o-mini") == "OPENAI_API_KEY"
    assert config.missing_key("anthropic/claude") == "ANTHROPIC_API_KEY"
    local = LLMConfig(models=("openai/qwen",), base_url="http://127.0.0.1:11434/v1")
    assert local.available() == ["openai/qwen"] and local.default() == "openai/qwen"
    assert provider_of("gpt-4o") == "openai" and provider_of("gemini/x") == "gemini"
    assert "GALAXY_MODELS" in LLMConfig().no_provider_message()
    assert "OPENAI_API_KEY" in LLMConfig(models=("openai/x",)).no_provider_message()


def test_the_coalescer_sends_at_most_one_event_per_interval_and_holds_nothing_back() -> None:
    sent: list[tuple[str, float]] = []

    async def emit(text: str) -> None:
        sent.append((text, time.monotonic()))

    async def scenario() -> None:
        coalescer = Coalescer(emit, interval=0.05)
        await coalescer.add("a")  # after a quiet spell: at once
        assert [t for t, _ in sent] == ["a"]
        for token in "bcdef":
            await coalescer.add(token)
        await asyncio.sleep(0.12)  # the timer sends them without another token arriving
        assert [t for t, _ in sent] == ["a", "bcdef"]
        await coalescer.add("g")
        await coalescer.close()
        assert "".join(t for t, _ in sent) == "abcdefg"
        await coalescer.add("")  # nothing to send
        assert coalescer.events == 3
        slow = Coalescer(emit, interval=3600)
        for token in "xyz":
            await slow.add(token)
        assert sent[-1][0] == "x" and slow.events == 1  # within one interval: held, not sent
        await slow.close()
        assert sent[-1][0] == "yz"
        dropped = Coalescer(emit, interval=3600)
        await dropped.add("1")
        await dropped.add("2")
        dropped.discard()  # a cancelled node sends nothing more

    asyncio.run(scenario())
    assert "".join(t for t, _ in sent) == "abcdefgxyz1"


def test_images_for_a_provider_are_passed_through_or_shrunk() -> None:
    import io

    from PIL import Image

    from engine.nodes.llm import shrink_image

    def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
        out = io.BytesIO()
        Image.new(mode, size, (10, 200, 30, 255)[: len(mode)]).save(out, "PNG")
        return out.getvalue()

    small = png((300, 200))
    assert shrink_image(small, "image/png") == (small, "image/png")
    big, content_type = shrink_image(png((4000, 1000)), "image/png")
    assert content_type == "image/jpeg" and Image.open(io.BytesIO(big)).size == (2048, 512)
    clear, content_type = shrink_image(png((3000, 3000), "RGBA"), "image/png")
    assert content_type == "image/png" and Image.open(io.BytesIO(clear)).size == (2048, 2048)
