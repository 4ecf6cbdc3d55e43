"""Who may open a workflow's socket, remembered while its room stays open in this process.

Admitting a socket costs a Postgres query (the credential's user and their role on the
workflow). When many sockets of one credential join one workflow at once — a user's tabs, or
every client reconnecting after a restart — the answer is reused, on three conditions:

- the room the first socket joined is still the one this process has open: while a room is
  open, the process hears every access change of its workflow (control messages on the
  document's channel), and each one forgets the workflow's answers (`forget_workflow`);
- the answer is younger than `ttl` seconds (a renamed user shows the new name after that);
- a revoked credential is refused anyway: revocations are remembered longer than `ttl` and
  close a socket as it joins (server/revocation.py).

Sockets of one credential that join a workflow at the same moment, before any answer is
remembered, share one lookup (`shared`) instead of sending one query each; those that join
different workflows at the same moment are answered by one query for all of them (`together`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from prometheus_client import Counter

from collab.batch import Batch

Member = TypeVar("Member")
Room = TypeVar("Room")
Answer = TypeVar("Answer")
Workflow = TypeVar("Workflow")


ADMISSIONS = Counter(
    "galaxy_ws_admissions_total",
    "Sockets admitted, by where the answer came from (database; shared with a socket joining at once; cache).",
    ["source"],
)


@dataclass(frozen=True)
class _Entry(Generic[Member, Room]):
    member: Member
    room: Room
    at: float


class AdmissionCache(Generic[Member, Room]):
    def __init__(self, *, ttl: float = 10.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str], _Entry[Member, Room]] = {}
        self._asking: dict[tuple[str, str], asyncio.Future[object]] = {}
        self._batches: dict[str, Batch[Any, Any]] = {}

    def get(self, credential: str, workflow_id: str, room: Room | None) -> Member | None:
        """The answer for this credential and workflow, if `room` (the workflow's open room, or
        None) is the one it was given for and it is fresh."""
        entry = self._entries.get((credential, workflow_id))
        if entry is None:
            return None
        if room is None or entry.room is not room or time.monotonic() - entry.at > self.ttl:
            del self._entries[(credential, workflow_id)]
            return None
        ADMISSIONS.labels("cache").inc()
        return entry.member

    def put(self, credential: str, workflow_id: str, member: Member, room: Room) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # a burst of distinct sockets: start over rather than grow
        self._entries[(credential, workflow_id)] = _Entry(member, room, time.monotonic())

    async def shared(self, credential: str, workflow_id: str, lookup: Callable[[], Awaitable[Answer]]) -> Answer:
        """`lookup()`, or the answer of the same lookup already under way for this credential and
        workflow (begun before any access change since: `forget_workflow` ends the sharing)."""
        key = (credential, workflow_id)
        asking = self._asking.get(key)
        if asking is not None:
            try:
                shared = await asyncio.shield(asking)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not asking.cancelled() or (task is not None and task.cancelling()):
                    raise
                return await lookup()  # the socket it asked for went away before the answer came
            ADMISSIONS.labels("shared").inc()
            return cast(Answer, shared)
        answer: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._asking[key] = answer
        try:
            result = await lookup()
        except asyncio.CancelledError:
            answer.cancel()
            raise
        except BaseException as err:
            answer.set_exception(err)
            answer.exception()  # retrieved: the sockets sharing it re-raise it
            raise
        else:
            answer.set_result(result)
            ADMISSIONS.labels("database").inc()
            return result
        finally:
            if self._asking.get(key) is answer:
                del self._asking[key]

    async def together(
        self, credential: str, workflow: Workflow, lookup: Callable[[list[Workflow]], Awaitable[list[Answer]]]
    ) -> Answer:
        """`lookup([workflow])[0]`, asked in one call with the other workflows this credential's
        sockets ask about meanwhile (every call of one credential looks up the same thing)."""
        batch = self._batches.get(credential)
        if batch is None:
            batch = self._batches[credential] = Batch(lookup)
        try:
            return cast(Answer, await batch.ask(workflow))
        finally:
            if batch.idle and self._batches.get(credential) is batch:
                del self._batches[credential]

    def forget_workflow(self, workflow_id: str) -> None:
        """Someone's access to the workflow changed (or it was deleted)."""
        for key in [key for key in self._entries if key[1] == workflow_id]:
            del self._entries[key]
        for key in [key for key in self._asking if key[1] == workflow_id]:
            del self._asking[key]
