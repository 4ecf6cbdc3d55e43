from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T14:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "versions keep their node and edge counts"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="galaxy", description=DESCRIPTION)
    for column in ("nodes", "edges"):
        manager.add_column(
            table_class_name="WorkflowVersion",
            tablename="workflow_versions",
            column_name=column,
            db_column_name=column,
            column_class_name="Integer",
            column_class=Integer,
            params={
                "default": 0,
                "null": False,
                "primary_key": False,
                "unique": False,
                "index": False,
                "index_method": IndexMethod.btree,
                "choices": None,
                "db_column_name": None,
                "secret": False,
            },
            schema=None,
        )
    return manager
