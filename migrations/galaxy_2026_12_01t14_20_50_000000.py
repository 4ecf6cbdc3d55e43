"""One link per media file and workflow; media looked up by content hash (for deduplication)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-01T14:20:50:000000"
VERSION = "1.38.0"
DESCRIPTION = "media link uniqueness and content-hash index"

FORWARDS = [
    "CREATE UNIQUE INDEX media_links_media_workflow ON media_links (media, workflow)",
    "CREATE INDEX media_sha256 ON media (sha256)",
]
BACKWARDS = [
    "DROP INDEX IF EXISTS media_sha256",
    "DROP INDEX IF EXISTS media_links_media_workflow",
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
