"""Indexes of the webhook delivery log and of runs started by webhooks.

The delivery log keeps every request, duplicates included, so the unique index on
(webhook, idempotency_key) goes: idempotency is claimed in Redis (server/hooks/claims.py).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-01T17:08:12:000000"
VERSION = "1.38.0"
DESCRIPTION = "webhook delivery log and hook run indexes"

FORWARDS = [
    "DROP INDEX IF EXISTS webhook_deliveries_idempotency_key",
    "CREATE INDEX webhook_deliveries_webhook_received ON webhook_deliveries (webhook, received_at DESC, id DESC)",
    "CREATE INDEX runs_hook ON runs (hook) WHERE hook IS NOT NULL",
]
BACKWARDS = [
    "DROP INDEX IF EXISTS runs_hook",
    "DROP INDEX IF EXISTS webhook_deliveries_webhook_received",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="galaxy", description=DESCRIPTION)
    for statement in FORWARDS:
        manager.add_raw(_run(statement))
    for statement in BACKWARDS:
        manager.add_raw_backwards(_run(statement))
    return manager


def _run(statement: str):  # type: ignore[no-untyped-def]
    async def run() -> None:
        # The engine the migration manager runs in, so this joins its transaction.
        await engine_finder().run_ddl(statement)

    return run
