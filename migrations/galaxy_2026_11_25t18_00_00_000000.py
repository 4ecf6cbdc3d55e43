"""Constraints Piccolo cannot declare on a column: composite uniques and partial indexes."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-25T18:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite unique constraints and partial indexes"

FORWARDS = [
    'ALTER TABLE memberships ADD CONSTRAINT memberships_workflow_user_key UNIQUE (workflow, "user")',
    "CREATE UNIQUE INDEX node_runs_run_node_key ON node_runs (run, node_id)",
    "CREATE UNIQUE INDEX webhook_deliveries_idempotency_key ON webhook_deliveries (webhook, idempotency_key)"
    " WHERE idempotency_key IS NOT NULL",
    "CREATE INDEX workflows_live_updated ON workflows (updated_at DESC) WHERE deleted_at IS NULL",
    "CREATE INDEX document_updates_workflow_id ON document_updates (workflow, id)",
]
BACKWARDS = [
    "DROP INDEX IF EXISTS document_updates_workflow_id",
    "DROP INDEX IF EXISTS workflows_live_updated",
    "DROP INDEX IF EXISTS webhook_deliveries_idempotency_key",
    "DROP INDEX IF EXISTS node_runs_run_node_key",
    "ALTER TABLE memberships DROP CONSTRAINT IF EXISTS memberships_workflow_user_key",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="galaxy", description=DESCRIPTION)
    for statement in FORWARDS:
        manager.add_raw(_run(manager, statement))
    for statement in BACKWARDS:
        manager.add_raw_backwards(_run(manager, statement))
    return manager


def _run(manager: MigrationManager, statement: str):  # type: ignore[no-untyped-def]
    async def run() -> None:
        # The engine the migration manager runs in, so this joins its transaction.
        await engine_finder().run_ddl(statement)

    return run
