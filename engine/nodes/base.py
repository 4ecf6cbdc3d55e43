"""The node execution interface: what an executor receives, returns and raises.

An executor is an async function `execute(ctx) -> outputs`. It reads its resolved inputs and
parameters from `ctx`, reports progress (for instance LLM token deltas) through
`ctx.progress(...)`, and returns a dict keyed by output port name. Text and number outputs are
plain JSON values; image and video outputs are media references `{"media_id": "..."}` saved
through `ctx.media`, so run records and events never carry file bytes.

Executors are cancelled by cancelling their task (run cancel, node timeout): they must let
`asyncio.CancelledError` propagate and hand blocking work (image or video decoding) to
`ctx.offload(fn, *args)` — a thread by default, the worker's process pool in a worker — so the
worker's event loop keeps serving other nodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from engine.spec import NodeSpec

Outputs = dict[str, Any]
T = TypeVar("T")


class NodeFailed(Exception):
    """A node could not produce its outputs; `message` tells a person what to do about it.

    `detail` holds what a developer needs (a provider's error body, a traceback summary).
    """

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps `detail` when the failure crosses a process pool.
        return (_failure, (self.message, self.detail))


def _failure(message: str, detail: str) -> NodeFailed:
    return NodeFailed(message, detail=detail)


@dataclass(frozen=True, kw_only=True)
class MediaInfo:
    """What is known about a stored media file without reading it."""

    id: str
    kind: str  # "image" or "video"
    content_type: str
    size: int
    filename: str = ""
    width: int | None = None
    height: int | None = None
    duration: float | None = None


class MediaNotFound(Exception):
    """No media file with that id is available to this run's workflow."""


class MediaStore(Protocol):
    """Where media nodes read the files of their run's workflow and keep the files they produce.

    Every method is scoped to one run: an id of a file the workflow may not use raises
    `MediaNotFound`, exactly like an id that does not exist.
    """

    async def info(self, media_id: str) -> MediaInfo:
        """Kind, type and dimensions of a media file of this run's workflow."""
        ...

    async def read(self, media_id: str) -> bytes:
        """The bytes of a media file of this run's workflow (images; videos use `local_path`)."""
        ...

    def local_path(self, media_id: str) -> AbstractAsyncContextManager[Path]:
        """A local file holding the media for the duration of the block (a video decoder seeks
        in it); the file must not be modified."""
        ...

    async def save(
        self,
        data: bytes,
        *,
        content_type: str,
        filename: str,
        width: int | None = None,
        height: int | None = None,
    ) -> str:
        """Store a produced image and return its media id."""
        ...


def media_ref(media_id: str, info: MediaInfo | None = None, **extra: Any) -> dict[str, Any]:
    """The value an image or video output carries: a reference, never the bytes."""
    ref: dict[str, Any] = {"media_id": media_id}
    if info is not None:
        ref.update(content_type=info.content_type, width=info.width, height=info.height)
        if info.duration is not None:
            ref["duration"] = info.duration
    ref.update(extra)
    return ref


ProgressCallback = Callable[[str, Mapping[str, Any] | None], Awaitable[None]]


class Offload(Protocol):
    """Runs blocking work away from the event loop: `await offload(fn, *args)` is `fn(*args)`.

    `fn` and its arguments must be picklable (a module-level function, bytes, paths, numbers), so
    a process pool can run it; exceptions it raises must be picklable too.
    """

    def __call__(self, work: Callable[..., T], /, *args: Any) -> Awaitable[T]: ...


async def in_thread(work: Callable[..., T], /, *args: Any) -> T:
    """The default `Offload`: a thread of the event loop's default pool."""
    return await asyncio.to_thread(work, *args)


async def _no_progress(delta: str, data: Mapping[str, Any] | None) -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class NodeContext:
    """Everything one execution of one node may use."""

    run_id: str
    workflow_id: str
    node_id: str
    spec: NodeSpec
    params: Mapping[str, Any]
    inputs: Mapping[str, Any]
    run_inputs: Mapping[str, str] = field(default_factory=dict)
    attempt: int = 1
    media: MediaStore | None = None
    on_progress: ProgressCallback = _no_progress
    offload: Offload = in_thread
    # Filled by the executor with what it consumed (LLM tokens and cost); stored with the node run.
    usage: dict[str, Any] = field(default_factory=dict)

    async def progress(self, delta: str = "", data: Mapping[str, Any] | None = None) -> None:
        """Tell everyone watching how far the node got: `delta` is text to append to what the
        node shows (LLM tokens), `data` any small JSON status (a percentage, a frame count)."""
        await self.on_progress(delta, data)

    def media_store(self) -> MediaStore:
        """The run's media store; a worker without one cannot run media nodes."""
        if self.media is None:
            raise NodeFailed(
                f"{self.spec.label} nodes need media storage, which this worker was started without.",
                detail="NodeContext.media is None",
            )
        return self.media


Executor = Callable[[NodeContext], Awaitable[Outputs]]


@dataclass(frozen=True)
class NodeType:
    """A node type: its declaration and its executor.

    `timeout` (seconds) caps one execution; None means the worker's default. The worker's own
    limit wins when it is lower.
    """

    spec: NodeSpec
    execute: Executor
    timeout: float | None = None
