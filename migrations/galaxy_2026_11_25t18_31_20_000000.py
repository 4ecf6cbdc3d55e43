"""Indexes for the run scheduler, the reaper and run listings (partial indexes Piccolo cannot declare)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-25T18:31:20:000000"
VERSION = "1.38.0"
DESCRIPTION = "run scheduling and listing indexes"

FORWARDS = [
    "CREATE INDEX node_runs_open ON node_runs (run, status) WHERE status IN ('pending', 'running')",
    "CREATE INDEX node_runs_running_lease ON node_runs (lease_until) WHERE status = 'running'",
    "CREATE INDEX node_runs_cached ON node_runs (node_id, cache_key) WHERE status = 'success'",
    "CREATE INDEX runs_workflow_created ON runs (workflow, created_at DESC, id DESC)",
    "CREATE INDEX runs_active_actor ON runs (actor) WHERE status IN ('queued', 'running')",
]
BACKWARDS = [
    "DROP INDEX IF EXISTS runs_active_actor",
    "DROP INDEX IF EXISTS runs_workflow_created",
    "DROP INDEX IF EXISTS node_runs_cached",
    "DROP INDEX IF EXISTS node_runs_running_lease",
    "DROP INDEX IF EXISTS node_runs_open",
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
