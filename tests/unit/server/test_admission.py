"""The admission cache answers only for the room it was filled for, while fresh, until the
workflow's access changes."""

from __future__ import annotations

import asyncio
import time

import pytest

from server.admission import AdmissionCache

pytestmark = pytest.mark.anyio


class Room:
    pass


def test_an_answer_holds_for_its_room_only() -> None:
    cache: AdmissionCache[str, Room] = AdmissionCache()
    room = Room()
    cache.put("token:a", "w1", "editor", room)
    assert cache.get("token:a", "w1", room) == "editor"
    assert cache.get("token:b", "w1", room) is None  # another credential
    assert cache.get("token:a", "w2", room) is None  # another workflow
    assert cache.get("token:a", "w1", Room()) is None  # the room was unloaded and opened again
    assert cache.get("token:a", "w1", room) is None  # ... and the stale answer is gone for good


def test_a_closed_room_answers_nothing() -> None:
    cache: AdmissionCache[str, Room] = AdmissionCache()
    cache.put("token:a", "w1", "editor", Room())
    assert cache.get("token:a", "w1", None) is None


def test_answers_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    cache: AdmissionCache[str, Room] = AdmissionCache(ttl=10)
    room = Room()
    cache.put("token:a", "w1", "editor", room)
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + 11)
    assert cache.get("token:a", "w1", room) is None


def test_an_access_change_forgets_every_answer_for_the_workflow() -> None:
    cache: AdmissionCache[str, Room] = AdmissionCache()
    room, other = Room(), Room()
    cache.put("token:a", "w1", "editor", room)
    cache.put("session:b", "w1", "viewer", room)
    cache.put("token:a", "w2", "owner", other)
    cache.forget_workflow("w1")
    assert cache.get("token:a", "w1", room) is None and cache.get("session:b", "w1", room) is None
    assert cache.get("token:a", "w2", other) == "owner"


def test_the_cache_never_grows_past_its_bound() -> None:
    cache: AdmissionCache[str, Room] = AdmissionCache(max_entries=3)
    room = Room()
    for i in range(10):
        cache.put(f"token:{i}", "w1", "editor", room)
    assert len(cache._entries) <= 3


async def test_sockets_joining_at_once_share_one_lookup() -> None:
    cache: AdmissionCache[str, Room] = AdmissionCache()
    calls = 0
    release = asyncio.Event()

    async def lookup() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "editor"

    waiting = [asyncio.create_task(cache.shared("token:a", "w1", lookup)) for _ in range(20)]
    other = asyncio.create_task(cache.shared("token:b", "w1", lookup))  # another credential asks for itself
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiting, other) == ["editor"] * 21
    assert calls == 2
    assert await cache.shared("token:a", "w1", lookup) == "editor" and calls == 3  # done: not shared any more


async def test_a_failed_lookup_fails_every_socket_that_shared_it_and_the_next_asks_again() -> None:
    cache: AdmissionCache[str, Room] = AdmissionCache()
    release = asyncio.Event()

    async def failing() -> str:
        await release.wait()
        raise ConnectionError("database away")

    waiting = [asyncio.create_task(cache.shared("token:a", "w1", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)

    async def fine() -> str:
        return "viewer"

    assert await cache.shared("token:a", "w1", fine) == "viewer"


async def test_an_access_change_ends_the_sharing_of_a_lookup_under_way() -> None:
    cache: AdmissionCache[str, Room] = AdmissionCache()
    release = asyncio.Event()
    answers = iter(["editor", "viewer"])

    async def lookup() -> str:
        await release.wait()
        return next(answers)

    before = asyncio.create_task(cache.shared("token:a", "w1", lookup))
    await asyncio.sleep(0)
    cache.forget_workflow("w1")  # the role changed while the first lookup ran
    after = asyncio.create_task(cache.shared("token:a", "w1", lookup))
    await asyncio.sleep(0)
    release.set()
    assert await before == "editor" and await after == "viewer"  # the later socket asked again


async def test_when_the_socket_that_asked_goes_away_the_others_ask_for_themselves() -> None:
    cache: AdmissionCache[str, Room] = AdmissionCache()
    release = asyncio.Event()
    calls = 0

    async def lookup() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "editor"

    first = asyncio.create_task(cache.shared("token:a", "w1", lookup))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.shared("token:a", "w1", lookup))
    await asyncio.sleep(0)
    first.cancel()  # its socket closed while the query ran
    await asyncio.sleep(0)
    release.set()
    assert await second == "editor" and calls == 2
    with pytest.raises(asyncio.CancelledError):
        await first
