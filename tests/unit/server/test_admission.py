"""The admission cache answers only for the room it was filled for, while fresh, until the
workflow's access changes."""

from __future__ import annotations

import time

import pytest

from server.admission import AdmissionCache


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
