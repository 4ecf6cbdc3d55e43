"""How the web and the worker open their Postgres pools."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from server.settings import Settings


async def _hand_back_as_is(connection: asyncpg.Connection) -> None:
    """asyncpg's default reset runs `RESET ALL; UNLISTEN *; CLOSE ALL; ...` whenever a connection
    goes back to the pool: one more round trip per query. Galaxy changes no session state (no
    SET, LISTEN, cursors or session-level advisory locks; the run lock is transaction-scoped),
    and asyncpg still rolls back a transaction left open, so there is nothing to reset."""


Statement = tuple[str, Sequence[Any]]
"""A statement as asyncpg runs it, with arguments that match no row."""


def pool_options(settings: Settings, warm: Sequence[Statement] = ()) -> dict[str, Any]:
    """Options for `asyncpg.create_pool` (and Piccolo's `start_connection_pool`). A few
    connections are opened at start: opening one (TLS negotiation included) costs milliseconds of
    CPU, which a burst of sockets joining at once would otherwise pay while they wait. Each
    connection the pool opens first runs the `warm` statements (see `_warmed`)."""
    options = {"min_size": min(4, settings.db_pool_max), "max_size": settings.db_pool_max, "reset": _hand_back_as_is}
    if warm:
        options["init"] = _warmed(warm)
    return options


def _warmed(statements: Sequence[Statement]) -> Callable[[asyncpg.Connection], Awaitable[None]]:
    """A pool's `init`: run each statement once on a new connection. asyncpg prepares a statement
    the first time a connection runs it, and looks up the types it uses (a `uuid[]`, a column's
    enum) with queries of its own — milliseconds of the event loop's time on each connection,
    paid by whoever comes first: after a start, the burst of sockets that open workflows at once.
    Run here, the statement stays prepared in the connection's cache for the real queries."""

    async def init(connection: asyncpg.Connection) -> None:
        try:
            for sql, args in statements:
                await connection.fetch(sql, *args)
        except asyncpg.UndefinedTableError:
            # Not migrated yet: the web still starts, and `/readyz` names the pending migrations.
            # The statements are prepared when first used instead.
            return

    return init
