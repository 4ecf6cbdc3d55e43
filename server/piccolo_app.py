"""Piccolo app config: our tables, with migrations kept in the top-level `migrations/` folder."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from server.tables import ALL_TABLES

APP_NAME = "galaxy"
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

APP_CONFIG = AppConfig(
    app_name=APP_NAME,
    migrations_folder_path=str(MIGRATIONS_DIR),
    table_classes=list(ALL_TABLES),
    migration_dependencies=[],
    commands=[],
)
