"""The Redis journal on a real Redis: append and publish in one step, read, release, sweep."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError

from collab.journal import Append, RedisJournal
from tests.support import ServiceUrls

pytestmark = pytest.mark.anyio


async def test_append_publishes_after_journaling_and_release_forgets(services: ServiceUrls) -> None:
    redis = Redis.from_url(services.redis_url)
    prefix = f"{services.namespace}:journal-test-{time.monotonic_ns()}"
    journal = RedisJournal(redis, prefix)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(f"{prefix}:chan")
    try:
        ids = await journal.append(
            [
                Append("d1", b"\x01\x02", "user-1", f"{prefix}:chan", b"HDR"),
                Append("d1", b"\x03", None),
                Append("d2", b"\x04", None),
            ]
        )
        assert len(ids) == 3 and ids[0] < ids[1]
        messages = [await pubsub.get_message(timeout=0.5) for _ in range(4)]
        assert [m["data"] for m in messages if m] == [b"HDR\x01\x02"]  # only the one with a channel
        assert await journal.read("d1") == [(ids[0], b"\x01\x02", "user-1"), (ids[1], b"\x03", None)]
        assert await journal.stale(60) == {}  # nothing is old yet
        await asyncio.sleep(1.1)
        stale = await journal.stale(1)
        assert set(stale) == {"d1", "d2"}
        assert await journal.stale(1) == {}  # each document goes to one sweeper at a time
        await journal.release({"d1": ids[:2], "d2": ids[2:]})
        assert await journal.read("d1") == [] and await journal.read("d2") == []
        assert await redis.zcard(f"{prefix}:journal") == 0  # the index forgets empty documents
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await journal.close()
        await redis.aclose()


async def test_rooms_opening_together_are_read_in_one_call_each_its_own(services: ServiceUrls) -> None:
    redis = Redis.from_url(services.redis_url)
    journal = RedisJournal(redis, f"{services.namespace}:journal-read-{time.monotonic_ns()}")
    try:
        ids = await journal.append(
            [Append("d1", b"\x01", "a"), Append("d2", b"\x02", None), Append("d1", b"\x03", None)]
        )
        read = await asyncio.gather(*(journal.read(doc_id) for doc_id in ("d2", "none", "d1", "d2")))
        assert read == [
            [(ids[1], b"\x02", None)],
            [],
            [(ids[0], b"\x01", "a"), (ids[2], b"\x03", None)],
            [(ids[1], b"\x02", None)],
        ]
    finally:
        await journal.close()
        await redis.aclose()


async def test_the_index_moves_on_when_only_young_entries_remain(services: ServiceUrls) -> None:
    redis = Redis.from_url(services.redis_url)
    prefix = f"{services.namespace}:journal-test-{time.monotonic_ns()}"
    journal = RedisJournal(redis, prefix)
    try:
        (old,) = await journal.append([Append("d", b"\x01", None)])
        await asyncio.sleep(1.1)
        await journal.release({"d": [old]})
        await journal.append([Append("d", b"\x02", None)])  # a live writer keeps going
        await redis.delete(f"{prefix}:journal-sweep:d")
        assert await journal.stale(1) == {}
        score = await redis.zscore(f"{prefix}:journal", "d")
        assert score is not None and score > time.time() - 1
    finally:
        await journal.close()
        await redis.aclose()


async def test_appends_go_on_after_a_script_flush_and_a_killed_connection(services: ServiceUrls) -> None:
    name = f"journal-test-{time.monotonic_ns()}"
    redis = Redis.from_url(services.redis_url, client_name=name)  # the journal's connections carry the name
    admin = Redis.from_url(services.redis_url)
    journal = RedisJournal(redis, f"{services.namespace}:{name}")
    try:
        first = await journal.append([Append("d", b"\x01", None)])
        await admin.script_flush()  # as after a Redis restart: the script is sent again
        second = await journal.append([Append("d", b"\x02", None)])
        for client in await admin.client_list():
            if client.get("name") == name:
                await admin.client_kill_filter(_id=client["id"])
        with contextlib.suppress(ConnectionError):
            await journal.append([Append("d", b"\x03", None)])  # may fail: the connection was dead
        third = await journal.append([Append("d", b"\x04", None)])  # a new connection
        updates = [update for _, update, _ in await journal.read("d")]
        assert updates[:2] == [b"\x01", b"\x02"] and updates[-1] == b"\x04"
        assert first < second < third
    finally:
        await journal.close()
        await redis.aclose()
        await admin.aclose()


async def test_appends_in_flight_together_run_in_the_order_sent_also_across_a_script_flush(
    services: ServiceUrls,
) -> None:
    redis = Redis.from_url(services.redis_url)
    admin = Redis.from_url(services.redis_url)
    journal = RedisJournal(redis, f"{services.namespace}:journal-test-{time.monotonic_ns()}")

    def order(entry_id: str) -> tuple[int, int]:
        millis, seq = entry_id.split("-")
        return int(millis), int(seq)

    try:
        for round_ in range(2):
            await admin.script_flush()  # every append in flight finds the script gone, then retries
            sent = [bytes([round_, i]) for i in range(60)]
            results = await asyncio.gather(*(journal.append([Append("d", update, None)]) for update in sent))
            ids = [entry_ids[0] for entry_ids in results]
            assert ids == sorted(ids, key=order)
        updates = [update for _, update, _ in await journal.read("d")]
        assert updates == [bytes([r, i]) for r in range(2) for i in range(60)]
    finally:
        await journal.close()
        await redis.aclose()
        await admin.aclose()


async def test_a_release_of_many_documents_and_thousands_of_entries_forgets_exactly_those(
    services: ServiceUrls,
) -> None:
    redis = Redis.from_url(services.redis_url)
    prefix = f"{services.namespace}:journal-release-{time.monotonic_ns()}"
    journal = RedisJournal(redis, prefix)
    try:
        many = await journal.append([Append("many", b"%d" % n, None) for n in range(6500)])
        few = await journal.append([Append("few", b"a", None), Append("few", b"b", "user-2")])
        kept = await journal.append([Append("kept", b"x", None), Append("kept", b"y", None)])
        # More ids than one script call takes, and than one XDEL inside it takes.
        await journal.release({"many": many, "few": few, "kept": kept[:1]})
        assert await journal.read("many") == [] and await journal.read("few") == []
        assert await journal.read("kept") == [(kept[1], b"y", None)]
        assert {member.decode() for member in await redis.zrange(f"{prefix}:journal", 0, -1)} == {"kept"}
        assert not await redis.exists(f"{prefix}:journal:many", f"{prefix}:journal:few")
        await journal.release({})  # nothing to release: no call
    finally:
        await journal.close()
        await redis.aclose()
