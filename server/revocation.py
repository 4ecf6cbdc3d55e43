"""Revoked credentials close the WebSockets opened with them, on every web process.

A socket is authenticated once, when it opens; revoking its API token or ending its session
afterwards must still stop it. Each web process keeps its open sockets by credential and
listens on one Redis channel; revoking publishes the credential's key there, and every process
closes the sockets it holds for it with 4401 (the stock client does not retry 44xx codes).

Keys never hold the credential itself: a token is named by its stored hash, a session by the
hash its store keys it under.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from collab.connection import CloseCode

# A socket is identified before it is tracked; a revocation announced in between would miss it.
# Keys revoked this recently close a socket as soon as it is tracked.
REMEMBER_SECONDS = 60.0


class Closable(Protocol):
    def shut(self, code: int, reason: str) -> None: ...


def token_key(token_hash: str) -> str:
    return f"token:{token_hash}"


def session_key(session_hash: str) -> str:
    return f"session:{session_hash}"


class Revocations:
    """Open sockets by credential key, and the channel that closes them."""

    def __init__(self, channel: str, publish: Callable[[str, bytes], Awaitable[None]]) -> None:
        self.channel = channel
        self._publish = publish
        self._sockets: dict[str, set[Closable]] = {}
        self._recent: dict[str, float] = {}

    def track(self, key: str, socket: Closable) -> None:
        if key in self._recent and time.monotonic() - self._recent[key] < REMEMBER_SECONDS:
            socket.shut(CloseCode.UNAUTHENTICATED, _reason(key))
            return
        self._sockets.setdefault(key, set()).add(socket)

    def forget(self, key: str, socket: Closable) -> None:
        sockets = self._sockets.get(key)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[key]

    async def revoke(self, key: str) -> None:
        """Close the sockets of `key` here and tell every other web process to do the same."""
        self.close(key)
        await self._publish(self.channel, key.encode())

    def on_message(self, data: bytes) -> None:
        self.close(data.decode(errors="replace"))

    def close(self, key: str) -> None:
        now = time.monotonic()
        self._recent = {k: t for k, t in self._recent.items() if now - t < REMEMBER_SECONDS}
        self._recent[key] = now
        for socket in list(self._sockets.pop(key, ())):
            socket.shut(CloseCode.UNAUTHENTICATED, _reason(key))


def _reason(key: str) -> str:
    return "this API token was revoked" if key.startswith("token:") else "you signed out; sign in again"
