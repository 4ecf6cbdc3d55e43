"""How the web and the worker open their Postgres pools."""

from __future__ import annotations

from typing import Any

import asyncpg

from server.settings import Settings


async def _hand_back_as_is(connection: asyncpg.Connection) -> None:
    """asyncpg's default reset runs `RESET ALL; UNLISTEN *; CLOSE ALL; ...` whenever a connection
    goes back to the pool: one more round trip per query. Galaxy changes no session state (no
    SET, LISTEN, cursors or session-level advisory locks; the run lock is transaction-scoped),
    and asyncpg still rolls back a transaction left open, so there is nothing to reset."""


def pool_options(settings: Settings) -> dict[str, Any]:
    """Options for `asyncpg.create_pool` (and Piccolo's `start_connection_pool`). A few
    connections are opened at start: opening one (TLS negotiation included) costs milliseconds of
    CPU, which a burst of sockets joining at once would otherwise pay while they wait."""
    return {"min_size": min(4, settings.db_pool_max), "max_size": settings.db_pool_max, "reset": _hand_back_as_is}
