"""Where media bytes live: a small interface, and the local-directory implementation.

Files are content-addressed: the key of a file is derived from the SHA-256 of its bytes, so the
same bytes are stored once however many media rows (uploads, duplicates, node outputs) refer to
them. An upload is first written to a temporary file inside the store's own directory and then
moved into place with one rename, so a reader never sees a half-written file and a rejected
upload leaves nothing behind. Another backend (an S3-compatible bucket) implements the same
Protocol; nodes and routes only ever talk to `Storage`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

import anyio

CHUNK = 256 * 1024


def key_for(sha256: str, variant: str = "") -> str:
    """The storage key of the file with this digest (a derived variant such as a thumbnail gets
    its own key next to it)."""
    suffix = f".{variant}" if variant else ""
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}{suffix}"


class Storage(Protocol):
    """A content-addressed file store."""

    def staging(self) -> AbstractAsyncContextManager[Path]:
        """A fresh temporary file to write an upload into; removed when the block ends unless
        `commit` moved it into the store."""
        ...

    async def commit(self, staged: Path, key: str) -> bool:
        """Move a staged file to `key`; True if it was new, False if those bytes were already
        stored (the staged file is then discarded)."""
        ...

    async def put(self, data: bytes, key: str) -> bool:
        """Store `data` under `key`; True if it was new."""
        ...

    async def size(self, key: str) -> int | None:
        """The size of the file at `key`, or None if there is none."""
        ...

    def read_range(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """The bytes `start..end` (inclusive) of the file, in chunks."""
        ...

    async def read(self, key: str) -> bytes:
        """The whole file."""
        ...

    def local_path(self, key: str) -> AbstractAsyncContextManager[Path]:
        """A local file holding the bytes for the duration of the block (for decoders that seek)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the file at `key` if it exists."""
        ...


class LocalStorage:
    """Files under one directory: `<root>/ab/cd/<sha256>`, uploads staged in `<root>/.staging`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._staging_dir = root / ".staging"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"storage key {key!r} leaves the media directory")
        return path

    @contextlib.asynccontextmanager
    async def staging(self) -> AsyncIterator[Path]:
        await anyio.to_thread.run_sync(lambda: self._staging_dir.mkdir(parents=True, exist_ok=True))
        handle, name = tempfile.mkstemp(dir=self._staging_dir, prefix="upload-")
        os.close(handle)
        path = Path(name)
        try:
            yield path
        finally:
            await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def commit(self, staged: Path, key: str) -> bool:
        target = self._path(key)

        def move() -> bool:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                staged.unlink(missing_ok=True)
                return False
            os.chmod(staged, 0o644)
            os.replace(staged, target)
            return True

        return await anyio.to_thread.run_sync(move)

    async def put(self, data: bytes, key: str) -> bool:
        async with self.staging() as staged:
            await anyio.to_thread.run_sync(staged.write_bytes, data)
            return await self.commit(staged, key)

    async def size(self, key: str) -> int | None:
        path = self._path(key)
        try:
            return (await anyio.to_thread.run_sync(path.stat)).st_size
        except FileNotFoundError:
            return None

    async def read_range(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        path = self._path(key)
        async with await anyio.open_file(path, "rb") as handle:
            await handle.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = await handle.read(min(CHUNK, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

    async def read(self, key: str) -> bytes:
        return await anyio.to_thread.run_sync(self._path(key).read_bytes)

    @contextlib.asynccontextmanager
    async def local_path(self, key: str) -> AsyncIterator[Path]:
        yield self._path(key)

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(lambda: self._path(key).unlink(missing_ok=True))


class HashingWriter:
    """Appends chunks to a file while hashing and counting them (runs in a worker thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.digest = hashlib.sha256()
        self.size = 0
        self._handle = path.open("wb")

    def write(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.size += len(chunk)
        self._handle.write(chunk)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> HashingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_file(path: Path) -> Iterator[bytes]:
    """The chunks of a local file (for hashing shipped samples)."""
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk
