"""Revocations close the right sockets, including one tracked just after its credential died."""

from __future__ import annotations

from collab.connection import CloseCode
from server.revocation import Revocations, session_key, token_key


class Socket:
    def __init__(self) -> None:
        self.closed: tuple[int, str] | None = None

    def shut(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


async def _nowhere(channel: str, data: bytes) -> None:
    return None


def test_only_the_revoked_credentials_sockets_close() -> None:
    revocations = Revocations("chan", _nowhere)
    mine, other, session = Socket(), Socket(), Socket()
    revocations.track(token_key("a"), mine)
    revocations.track(token_key("b"), other)
    revocations.track(session_key("s"), session)
    revocations.on_message(token_key("a").encode())
    assert mine.closed is not None and mine.closed[0] == CloseCode.UNAUTHENTICATED and "revoked" in mine.closed[1]
    assert other.closed is None and session.closed is None
    revocations.close(session_key("s"))
    assert session.closed is not None and "signed out" in session.closed[1]


def test_a_socket_tracked_after_its_revocation_closes_at_once() -> None:
    revocations = Revocations("chan", _nowhere)
    revocations.on_message(token_key("late").encode())
    late = Socket()
    revocations.track(token_key("late"), late)
    assert late.closed is not None and late.closed[0] == CloseCode.UNAUTHENTICATED
    revocations.forget(token_key("late"), late)  # the handler's cleanup finds nothing to forget
