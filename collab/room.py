"""A room: one document, its awareness states and the connections editing it in this process.

Everything here is synchronous and runs on the event-loop thread (a pycrdt Doc is not
thread-safe). The room never awaits: outgoing frames go into each connection's bounded queue,
and a connection that cannot keep up is closed rather than buffered without bound.
"""

from __future__ import annotations

import asyncio
import colorsys
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Map, TransactionEvent, merge_updates

from collab import protocol, updates
from collab.connection import CloseCode, Connection, websocket_frame

log = logging.getLogger(__name__)

EMPTY_UPDATE = b"\x00\x00"
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class Limits:
    max_nodes: int = 500
    max_edges: int = 2000
    max_document_bytes: int = 8 * 1024 * 1024
    max_awareness_state_bytes: int = 16 * 1024
    awareness_timeout: float = 30.0
    max_presence_clients: int = 4  # client ids one socket may speak for (a tab has one)
    presence_per_second: float = 30.0  # presence messages one socket may send, on average ...
    presence_burst: int = 60  # ... and at once; more are dropped, not relayed
    max_refusals: int = 3  # changes refused by a limit before the socket is closed


@dataclass
class _Presence:
    clock: int
    state: dict[str, Any] | None
    owner: str | None  # id of the local connection that controls this client id; None = remote
    seen: float = field(default_factory=time.monotonic)


class Refused(Exception):
    """A write the room would not accept; the reason is told to the client (auth message)."""


def colour_for(user_id: str) -> str:
    """A stable, readable colour per user for cursors and selections."""
    hue = int.from_bytes(user_id.encode()[-6:].ljust(6, b"0"), "big") % 360
    red, green, blue = colorsys.hls_to_rgb(hue / 360, 0.45, 0.65)
    return "#{:02x}{:02x}{:02x}".format(*(round(v * 255) for v in (red, green, blue)))


class Room:
    """One open document: applies client frames, fans them out locally, reports what changed.

    `on_update(room, update, origin, echo)` is called with every effective local change (origin
    is the local `Connection` that sent it, or None for a server change; `echo`: the change holds
    more than the origin sent — structs held back for a missing predecessor that its update
    completed — so the origin must receive it too). The room does not show a local
    change to anyone itself: the hub makes it durable (spool or journal) and then calls
    `deliver`, so nobody sees an update that a crash could still lose. While updates wait for
    the journal (`uncommitted`), the answer to a client's sync step 1 is passed to `on_reply` to
    be sent after them.
    `on_awareness(room, payload)` is called with every awareness change made by a local connection.
    """

    def __init__(
        self,
        doc_id: str,
        doc: Doc[Any],
        *,
        limits: Limits,
        on_update: Callable[[Room, bytes, Connection | None, bool], None],
        on_awareness: Callable[[Room, bytes], None],
        on_reply: Callable[[Room, Connection, bytes], None] | None = None,
        on_unreadable: Callable[[], None] = lambda: None,
        size: int = 0,
    ) -> None:
        self.doc_id = doc_id
        self.doc = doc
        self.limits = limits
        self.connections: dict[str, Connection] = {}
        self.presence: dict[int, _Presence] = {}
        self.size = size
        self._on_update = on_update
        self._on_awareness = on_awareness
        self._on_reply = on_reply
        self._on_unreadable = on_unreadable  # a remote update the ordering guard could not read
        self.uncommitted = 0  # local updates the hub holds back until they are journaled
        self._nodes = doc.get("nodes", type=Map)
        self._edges = doc.get("edges", type=Map)
        doc.get("meta", type=Map)
        self._captured: list[bytes] = []
        self._added: dict[str, list[str]] = {"nodes": [], "edges": []}
        self.held: list[bytes] = []
        self.wants_sync = False
        self._texts: list[bytes] = []  # run events read from the bus, sent at the end of the read
        self.version = 0  # bumped on every change, so derived values can be cached
        doc.observe(self._capture)
        self._nodes.observe(lambda event: self._capture_added("nodes", event))
        self._edges.observe(lambda event: self._capture_added("edges", event))

    # --- connections ----------------------------------------------------------------------

    def add(self, connection: Connection) -> None:
        """Register a connection and start the sync: our step 1, and who is here."""
        self.connections[connection.id] = connection
        connection.enqueue(protocol.sync_step1(self.doc.get_state()))
        if self.presence:
            connection.enqueue(protocol.awareness(self._encode_presence(list(self.presence))))

    def remove(self, connection: Connection) -> None:
        """Forget a connection and tell everyone its cursors are gone."""
        self.connections.pop(connection.id, None)
        gone = [cid for cid, p in self.presence.items() if p.owner == connection.id]
        if gone:
            payload = self._drop_presence(gone)
            self._broadcast(protocol.awareness(payload), exclude=None)
            self._on_awareness(self, payload)

    # --- frames from local clients --------------------------------------------------------

    def receive(self, connection: Connection, frame: bytes) -> None:
        """Handle one binary frame. Raises ProtocolError for malformed frames or updates."""
        message = protocol.decode(frame)
        if isinstance(message, protocol.SyncStep1):
            if not connection.claim_reply():
                return  # its earlier reply is still unsent; it carries everything asked for
            protocol.decode_state_vector(message.state_vector)
            try:
                reply = protocol.sync_step2(self.doc.get_update(message.state_vector))
            except ValueError as err:
                raise protocol.ProtocolError(f"not a valid state vector: {err}") from None
            if self.uncommitted and self._on_reply is not None:
                self._on_reply(self, connection, reply)
            else:
                connection.enqueue(reply, reply=True)
        elif isinstance(message, protocol.SyncStep2 | protocol.SyncUpdate):
            if message.update == EMPTY_UPDATE:
                return
            if not connection.identity.can_write:
                connection.enqueue(protocol.permission_denied("read-only: viewers cannot edit this workflow"))
                return
            try:
                self.apply(message.update, connection)
            except Refused as refused:
                connection.enqueue(protocol.permission_denied(str(refused)))
                connection.refusals += 1
                if connection.refusals >= self.limits.max_refusals:
                    # Every refused batch leaves deleted entries behind that every joiner downloads.
                    connection.shut(CloseCode.TOO_MANY_REFUSALS, f"too many refused changes: {refused}")
        elif isinstance(message, protocol.AwarenessMessage):
            self._receive_awareness(connection, message.payload)
        elif isinstance(message, protocol.QueryAwareness):
            if self.presence:
                connection.enqueue(protocol.awareness(self._encode_presence(list(self.presence))))
        # Auth frames from a client mean nothing to us.

    def apply(self, update: bytes, origin: Connection | None) -> bytes | None:
        """Apply an update, enforce the limits, broadcast the effective change; return it."""
        if self.size + len(update) > self.limits.max_document_bytes:
            # `size` only grows between loads; measure for real before refusing anything.
            self.size = len(self.doc.get_update())
        if self.size + len(update) > self.limits.max_document_bytes:
            raise Refused(
                f"document size limit: this workflow is at its {self.limits.max_document_bytes} byte limit; "
                "the change was not saved"
            )
        updates.check_update(update)  # before yrs allocates anything for what it claims
        self._captured.clear()
        for added in self._added.values():
            added.clear()
        try:
            with self.doc.transaction(origin=origin.id if origin else "remote"):
                self.doc.apply_update(update)
        except ValueError as err:
            raise protocol.ProtocolError(f"not a valid Yjs update: {err}") from None
        refused = self._enforce_counts()
        effective = self._take_captured()
        if effective is not None:
            self.size += len(effective)
            self.version += 1
            self._on_update(self, effective, origin, not updates.covers(update, effective))
        if refused:
            if origin is not None:
                origin.enqueue(protocol.sync_update(effective or EMPTY_UPDATE))
            raise Refused(refused)
        return effective

    def apply_remote(self, update: bytes) -> None:
        """An update from another process (already stored there): apply and pass to local clients.

        An update whose predecessors have not arrived (Redis dropped them) is held back instead:
        yrs would integrate a later map entry before the earlier one it builds on and then get
        the entry's value wrong when the earlier one comes. `wants_sync` asks the hub to fetch
        what is missing; once it arrives, everything held is applied as one merged update.
        """
        if self.held:
            update = merge_updates(update, *self.held)
        try:
            gap = updates.has_gap(update, protocol.decode_state_vector(self.doc.get_state()))
        except protocol.ProtocolError as err:
            # Another process accepted it, so yrs can read it; without the guard it may integrate
            # out of order, which is worth knowing about.
            log.warning("remote_update_unreadable", extra={"doc_id": self.doc_id, "error": str(err)})
            self._on_unreadable()
            gap = False
        if gap:
            self.held = [update]
            self.wants_sync = True
            if len(update) > self.limits.max_document_bytes:
                self.held = []  # never hoard without bound; anti-entropy repairs it later
            return
        self.held = []
        self.wants_sync = False
        self._captured.clear()
        for added in self._added.values():
            added.clear()
        try:
            with self.doc.transaction(origin="remote"):
                self.doc.apply_update(update)
        except ValueError:
            return  # another process relayed it, so it was valid there; nothing to do here
        effective = self._take_captured()
        if effective is not None:
            self.size += len(effective)
            self.version += 1
            self._broadcast(protocol.sync_update(effective), exclude=None)

    def _capture(self, event: TransactionEvent) -> None:
        if event.update != EMPTY_UPDATE:
            self._captured.append(event.update)

    def _capture_added(self, root: str, event: Any) -> None:
        for key, change in event.keys.items():
            if change.get("action") == "add":
                self._added[root].append(key)

    def _enforce_counts(self) -> str | None:
        """Take back what an update added past the node or edge limit (in the same breath, so
        every client converges on the refusal); say why, or None."""
        reasons = []
        for root, entries, limit in (
            ("nodes", self._nodes, self.limits.max_nodes),
            ("edges", self._edges, self.limits.max_edges),
        ):
            added = list(self._added[root])
            if added and len(entries) > limit:
                with self.doc.transaction(origin="limit"):
                    for key in added:
                        if key in entries:
                            del entries[key]
                reasons.append(
                    f"{root[:-1]} limit: a workflow holds at most {limit} {root}; "
                    f"the {len(added)} {root} just added were removed"
                )
        return "; ".join(reasons) or None

    def _take_captured(self) -> bytes | None:
        if not self._captured:
            return None
        captured = self._captured[0] if len(self._captured) == 1 else merge_updates(*self._captured)
        self._captured.clear()
        return captured

    # --- awareness ------------------------------------------------------------------------

    def _presence_allowed(self, connection: Connection) -> bool:
        """A token bucket per socket: cursors may move often, but not without bound."""
        now = time.monotonic()
        rate, burst = self.limits.presence_per_second, self.limits.presence_burst
        tokens = min(burst, connection.presence_tokens + (now - connection.presence_at) * rate)
        connection.presence_at = now
        if tokens < 1:
            connection.presence_tokens = tokens
            return False
        connection.presence_tokens = tokens - 1
        return True

    def _receive_awareness(self, connection: Connection, payload: bytes) -> None:
        entries = protocol.decode_awareness(payload, max_state_bytes=self.limits.max_awareness_state_bytes)
        if not self._presence_allowed(connection):
            return  # dropped: the next one carries the newest cursor anyway
        accepted = []
        for entry in entries:
            known = self.presence.get(entry.client_id)
            if known is not None and known.owner != connection.id:
                continue  # a client id another connection controls: no impersonation
            if (
                entry.client_id not in connection.awareness_clients
                and len(connection.awareness_clients) >= self.limits.max_presence_clients
            ):
                continue  # a browser tab speaks for one client id; nobody needs thousands
            if known is not None and entry.clock < known.clock:
                continue
            state = self._stamp(connection, entry.state)
            if state is None:
                self.presence.pop(entry.client_id, None)
                connection.awareness_clients.discard(entry.client_id)
            else:
                self.presence[entry.client_id] = _Presence(entry.clock, state, connection.id)
                connection.awareness_clients.add(entry.client_id)
            accepted.append(protocol.AwarenessEntry(entry.client_id, entry.clock, state))
        if accepted:
            out = protocol.encode_awareness(accepted)
            self._broadcast(protocol.awareness(out), exclude=None)
            self._on_awareness(self, out)

    def _stamp(self, connection: Connection, state: dict[str, Any] | None) -> dict[str, Any] | None:
        """The server, not the client, says who a cursor belongs to."""
        if state is None:
            return None
        claimed = state.get("user")
        colour = claimed.get("color") if isinstance(claimed, dict) else None
        state = dict(state)
        state["user"] = {
            "id": connection.identity.user_id,
            "name": connection.identity.name,
            "color": colour
            if isinstance(colour, str) and _COLOUR.fullmatch(colour)
            else colour_for(connection.identity.user_id),
        }
        return state

    def apply_remote_awareness(self, payload: bytes) -> None:
        try:
            entries = protocol.decode_awareness(payload)
        except protocol.ProtocolError:
            return
        accepted = []
        for entry in entries:
            known = self.presence.get(entry.client_id)
            if known is not None and known.owner is not None:
                continue
            if entry.state is None:
                self.presence.pop(entry.client_id, None)
            else:
                self.presence[entry.client_id] = _Presence(entry.clock, entry.state, None)
            accepted.append(entry)
        if accepted:  # re-encoded: only what was read and accepted reaches the browsers
            self._broadcast(protocol.awareness(protocol.encode_awareness(accepted)), exclude=None)

    def _drop_presence(self, client_ids: list[int]) -> bytes:
        entries = []
        for client_id in client_ids:
            presence = self.presence.pop(client_id, None)
            clock = presence.clock + 1 if presence else 0
            entries.append(protocol.AwarenessEntry(client_id, clock, None))
        return protocol.encode_awareness(entries)

    def _encode_presence(self, client_ids: list[int]) -> bytes:
        return protocol.encode_awareness(
            [protocol.AwarenessEntry(cid, self.presence[cid].clock, self.presence[cid].state) for cid in client_ids]
        )

    def expire_presence(self) -> None:
        """Forget remote cursors whose owner stopped renewing them (clients do the same)."""
        cutoff = time.monotonic() - self.limits.awareness_timeout
        for client_id in [c for c, p in self.presence.items() if p.owner is None and p.seen < cutoff]:
            del self.presence[client_id]

    # --- fan-out to local connections -----------------------------------------------------

    def deliver(self, update: bytes, *, exclude: Connection | None) -> None:
        """Send a local update to this room's clients once it is durable (see `on_update`)."""
        self._broadcast(protocol.sync_update(update), exclude=exclude)

    def _broadcast(self, frame: bytes | str, *, exclude: Connection | None) -> None:
        framed = websocket_frame(frame)  # once for every socket that takes frames ready-made
        for connection in list(self.connections.values()):
            if connection is not exclude:
                connection.enqueue(frame, framed=framed)

    def relay_text(self, message: bytes) -> None:
        """Relay a run event (a JSON object from the bus) to every local connection as text.

        The events the bus hands over in one read go out as one frame, a JSON array of them in
        order: a hundred nodes starting at once are a few frames rather than two hundred, each of
        which a browser handles as a task of its own, ahead of drawing them."""
        self._texts.append(message)
        if len(self._texts) == 1:
            asyncio.get_running_loop().call_soon(self._send_texts)

    def _send_texts(self) -> None:
        texts, self._texts = self._texts, []
        frame = texts[0] if len(texts) == 1 else b"[" + b",".join(texts) + b"]"
        self._broadcast(frame.decode("utf-8", errors="replace"), exclude=None)
