"""Applying Piccolo migrations, and telling which ones a database still lacks."""

from __future__ import annotations

import os
import re

import asyncpg
from piccolo.apps.migrations.tables import Migration

from server.piccolo_app import APP_NAME, MIGRATIONS_DIR
from server.tables import Workflow

_ID = re.compile(r'^ID\s*=\s*"([^"]+)"', re.MULTILINE)


def migration_ids() -> list[str]:
    """Ids of the migrations shipped with this code, read from the files without importing them."""
    ids = []
    for path in sorted(MIGRATIONS_DIR.glob("*.py")):
        match = _ID.search(path.read_text())
        if match:
            ids.append(match.group(1))
    return ids


async def pending_migrations() -> list[str]:
    """Shipped migrations the database has not applied (all of them if it has none)."""
    Migration._meta.db = Workflow._meta.db  # the engine the app bound its tables to
    try:
        applied = set(await Migration.get_migrations_which_ran(app_name=APP_NAME))
    except asyncpg.UndefinedTableError:
        return migration_ids()
    return [m for m in migration_ids() if m not in applied]


async def apply_migrations(database_url: str) -> None:
    """Run every pending migration against `database_url` (Piccolo reads it via piccolo_conf)."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("PICCOLO_CONF", "piccolo_conf")
    from piccolo.apps.migrations.commands.forwards import run_forwards

    result = await run_forwards("all")
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}")
