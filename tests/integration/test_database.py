"""The web's Postgres pool: the statements a burst of joining sockets runs are prepared on every
connection the pool opens, before any socket needs them."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg
import pytest

from server.accounts.service import ADMISSION_STATEMENTS, TOKEN_PREFIX, members_by_token
from server.database import pool_options
from server.settings import Settings
from server.workflows.store import LOAD_STATEMENT
from tests.support import ServiceUrls, admin_sql

WARM = (*ADMISSION_STATEMENTS, LOAD_STATEMENT)


async def _prepared(connection: asyncpg.Connection) -> set[str]:
    return {row["statement"] for row in await connection.fetch("SELECT statement FROM pg_prepared_statements")}


async def _everywhere(pool: asyncpg.Pool) -> list[frozenset[str]]:
    """The prepared statements of each connection the pool opened at start, sorted."""
    connections = [await pool.acquire() for _ in range(pool.get_min_size())]
    try:
        return sorted([frozenset(await _prepared(c)) for c in connections], key=sorted)
    finally:
        for connection in connections:
            await pool.release(connection)


@pytest.mark.anyio
async def test_every_connection_of_the_pool_has_the_join_statements_prepared(settings: Settings) -> None:
    pool = await asyncpg.create_pool(settings.database_url, **pool_options(settings, WARM))
    try:
        assert pool.get_min_size() > 1
        before = await _everywhere(pool)
        for prepared in before:
            assert {sql for sql, _ in WARM} <= prepared
        async with pool.acquire() as connection:
            for sql, args in WARM:  # the warm-up's arguments match nothing
                assert await connection.fetch(sql, *args) == []
        # The real path runs the prepared statement: no connection prepares another one.
        assert await members_by_token(pool, TOKEN_PREFIX + "0" * 43, [None]) == [None]
        assert await _everywhere(pool) == before
    finally:
        await pool.close()


@pytest.mark.anyio
async def test_without_statements_the_pool_prepares_nothing_ahead(settings: Settings) -> None:
    pool = await asyncpg.create_pool(settings.database_url, **pool_options(settings))
    try:
        async with pool.acquire() as connection:
            assert not {sql for sql, _ in WARM} & await _prepared(connection)
    finally:
        await pool.close()


def test_a_database_without_the_tables_still_opens_the_pool(services: ServiceUrls, settings: Settings) -> None:
    """Not migrated yet: nothing is prepared, and the pool opens (the web then reports the pending
    migrations on `/readyz`: test_operations.py)."""
    name = f"galaxy_empty_{secrets.token_hex(4)}"
    admin_sql(services.admin_url, f'CREATE DATABASE "{name}"')
    try:
        empty = services.database_url.replace(services.database_url.rsplit("/", 1)[1].split("?")[0], name)

        async def prepared_after_start() -> list[frozenset[str]]:
            pool = await asyncpg.create_pool(empty, **pool_options(settings, WARM))
            try:
                return await _everywhere(pool)
            finally:
                await pool.close()

        warm = {sql for sql, _ in WARM}
        assert all(not warm & prepared for prepared in asyncio.run(prepared_after_start()))
    finally:
        admin_sql(services.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
