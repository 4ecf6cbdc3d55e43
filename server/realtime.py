"""`/ws/workflows/{id}`: the y-websocket protocol plus run events, on one socket.

Authentication is by session cookie (with an `Origin` check: browsers send cookies on
cross-site WebSockets, CSRF rules do not cover them) or by `?token=<API token>` for scripts.
Refusals happen after `accept()` with a 44xx close code, which the stock y-websocket client
treats as final; overload or shutdown uses 1013 / 1012 / 1011, which it retries.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
import structlog
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath

from collab.connection import CloseCode, Connection, Identity
from collab.hub import Hub
from collab.protocol import ProtocolError
from collab.room import Room
from collab.store import DocumentGone
from server.accounts import service as accounts
from server.accounts.sessions import SESSION_COOKIE, SessionStore, session_digest
from server.admission import AdmissionCache
from server.connection_limits import ConnectionLimits, Refusal
from server.revocation import Revocations, session_key, token_key
from server.settings import Settings
from server.tables import Role, can_write
from server.websocket_protocol import frame_reader, frame_writer

log = structlog.get_logger(__name__)


class LitestarTransport:
    def __init__(self, socket: WebSocket[Any, Any, Any]) -> None:
        self.socket = socket

    async def send(self, data: bytes | str) -> None:
        if isinstance(data, bytes):
            await self.socket.send_bytes(data)
        else:
            await self.socket.send_text(data)

    async def close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.socket.close(code, reason[:120])


def _origin_allowed(socket: WebSocket[Any, Any, Any], settings: Settings) -> bool:
    origin = socket.headers.get("origin")
    if origin is None:
        return True  # not a browser: cookies were set by hand, so no cross-site request is possible
    allowed = {socket.headers.get("host", "")}
    if settings.public_url:
        allowed.add(urlsplit(settings.public_url).netloc)
    return urlsplit(origin).netloc in allowed


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


def _uuid_or_none(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


class _Refused(Exception):
    """The socket is closed with `code` and `reason` before it joins anything."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def _admit(socket: WebSocket[Any, Any, Any], settings: Settings, workflow_id: str) -> tuple[_Member, bool]:
    """Who the socket's credential belongs to, their role on the workflow (one query, shared with
    the credential's other sockets joining at once, or the answer another socket of the
    credential got while the room stayed open: server/admission.py)
    and the key that revoking the credential closes the socket by, and whether the answer was
    remembered; `_Refused` when the socket carries no valid credential."""
    pool: asyncpg.Pool = socket.app.state.pool
    workflow = _uuid_or_none(workflow_id)
    lookup: Callable[[list[UUID | None]], Awaitable[list[asyncpg.Record | None]]]
    token = socket.query_params.get("token")
    session_id = socket.cookies.get(SESSION_COOKIE)
    if token:
        credential, refusal = token_key(accounts.token_digest(token)), "this API token is not valid or has been revoked"
        lookup = partial(accounts.members_by_token, pool, token)
    elif session_id:
        if not _origin_allowed(socket, settings):
            raise _Refused(CloseCode.FORBIDDEN, "cross-site WebSocket refused")
        sessions: SessionStore = socket.app.state.sessions
        session = await sessions.get(session_id)  # always checked: sessions also end by expiring
        credential, refusal = session_key(session_digest(session_id)), "your session has ended; sign in again"
        if session is None:
            raise _Refused(CloseCode.UNAUTHENTICATED, refusal)
        lookup = partial(accounts.members_by_id, pool, session.user_id)
    else:
        raise _Refused(CloseCode.UNAUTHENTICATED, "sign in, or pass ?token=<API token>")
    admissions: AdmissionCache[_Member, Room] = socket.app.state.admissions
    hub: Hub = socket.app.state.hub
    member = admissions.get(credential, workflow_id, hub.room(workflow_id))
    if member is None:
        row = await admissions.shared(
            credential, workflow_id, partial(admissions.together, credential, workflow, lookup)
        )
        if row is None:
            raise _Refused(CloseCode.UNAUTHENTICATED, refusal)
        return _Member(row, credential), False
    return member, True


class _Member:
    def __init__(self, row: asyncpg.Record, credential: str) -> None:
        self.user_id = str(row["id"])
        self.name: str = row["name"]
        self.role = Role(row["role"]) if row["role"] else None
        self.credential = credential


_REFUSALS = {
    Refusal.USER: "too many open connections for this user",
    Refusal.WORKFLOW: "too many people on this workflow right now",
}


@websocket("/ws/workflows/{workflow_id:str}", opt={"exclude_from_auth": True})
async def workflow_socket(socket: WebSocket[Any, Any, Any], workflow_id: FromPath[str]) -> None:
    settings: Settings = socket.app.state.settings
    hub: Hub = socket.app.state.hub
    await socket.accept()
    try:
        member, remembered = await _admit(socket, settings, workflow_id)
    except _Refused as refused:
        await socket.close(refused.code, refused.reason)
        return
    if member.role is None:
        await socket.close(CloseCode.NOT_FOUND, "no such workflow, or you are not a member of it")
        return
    user_id, credential = member.user_id, member.credential
    identity = Identity(user_id=user_id, name=member.name, can_write=can_write(member.role))
    connection = hub.connect(LitestarTransport(socket), identity, direct=frame_writer(socket.scope))
    limits: ConnectionLimits = socket.app.state.connection_limits
    if hub.room(workflow_id) is None:
        # The room loads while the connection caps are checked: two round trips at once, not in turn.
        opening = asyncio.create_task(hub.preload(workflow_id))
        opening.add_done_callback(_retrieve)  # join reports its failure; a refused socket never asks
    refusal = await limits.acquire(user_id, workflow_id, connection.id)
    if refusal is not None:
        await socket.close(CloseCode.TRY_AGAIN, _REFUSALS[refusal])
        return
    try:
        room = await hub.join(workflow_id, connection)
    except DocumentGone:
        await limits.release(connection.id)
        await socket.close(CloseCode.NOT_FOUND, "no such workflow")
        return
    admissions: AdmissionCache[_Member, Room] = socket.app.state.admissions
    if not remembered:  # a remembered answer is not made younger by being used
        admissions.put(credential, workflow_id, member, room)
    structlog.contextvars.bind_contextvars(workflow_id=workflow_id, user_id=user_id)
    revocations: Revocations = socket.app.state.revocations
    revocations.track(credential, connection)
    writer = asyncio.create_task(connection.run_writer())
    reader = asyncio.create_task(_read(socket, room, connection, settings))
    inbox = frame_reader(socket.scope)
    if inbox is not None:
        inbox.listen(partial(_on_frame, room, connection, settings))
    try:
        # The writer ends when the connection is shut (slow client, removed member, shutdown):
        # stop reading then too, or a silent peer would hold the handler open forever.
        await asyncio.wait((reader, writer), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if inbox is not None:
            inbox.listen(None)
        revocations.forget(credential, connection)
        hub.leave(room, connection)
        await limits.release(connection.id)
        connection.shut(connection.close_code or CloseCode.NORMAL, "bye")
        reader.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(writer, timeout=5)
        with contextlib.suppress(BaseException):
            await reader


async def _read(socket: WebSocket[Any, Any, Any], room: Room, connection: Connection, settings: Settings) -> None:
    """Read the socket through ASGI until it closes. Where the server offers `galaxy.frames`,
    binary messages go to `_on_frame` as they arrive instead (see server/websocket_protocol.py);
    what still comes this way is a text frame, the disconnect, or what was queued before."""
    while not connection.closed:
        try:
            message = await socket.receive()
        except WebSocketDisconnect:
            return
        if message["type"] == "websocket.disconnect":
            return
        frame = message.get("bytes")
        if not isinstance(frame, bytes):
            connection.shut(CloseCode.UNSUPPORTED, "this endpoint speaks binary y-websocket frames only")
            return
        _on_frame(room, connection, settings, frame)


def _on_frame(room: Room, connection: Connection, settings: Settings, frame: bytes) -> None:
    """One binary message of a joined socket; never raises (a bad one shuts the connection)."""
    if connection.closed:
        return
    if len(frame) > settings.max_ws_message_bytes:
        connection.shut(CloseCode.TOO_BIG, f"messages are limited to {settings.max_ws_message_bytes} bytes")
        return
    try:
        room.receive(connection, frame)
    except ProtocolError as err:
        log.info("ws_protocol_error", error=str(err), workflow_id=room.doc_id, user_id=connection.identity.user_id)
        connection.shut(CloseCode.INVALID, f"protocol error: {err}")
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        log.exception("ws_frame_failed", workflow_id=room.doc_id, user_id=connection.identity.user_id)
        connection.shut(CloseCode.INTERNAL, "the server could not process that message")
