"""Count the nodes and edges of versions made before versions kept their counts."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

ID = "2026-12-01T14:30:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "backfill version node and edge counts"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="galaxy", description=DESCRIPTION)
    manager.add_raw(_backfill)
    return manager


async def _backfill() -> None:
    from server.workflows.codec import snapshot

    engine = engine_finder()
    # One snapshot at a time (they can be large); this runs once, offline, in the migration's
    # transaction.
    select = "SELECT snapshot FROM workflow_versions WHERE id = {}"
    update = "UPDATE workflow_versions SET nodes = {}, edges = {} WHERE id = {}"
    for row in await engine.run_querystring(QueryString("SELECT id FROM workflow_versions")):
        found = await engine.run_querystring(QueryString(select, row["id"]))
        counts = snapshot([found[0]["snapshot"]])
        await engine.run_querystring(QueryString(update, counts.nodes, counts.edges, row["id"]))
