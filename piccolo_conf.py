"""Piccolo configuration for its CLI (migrations). The app itself binds its own engine."""

import os

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

DB = PostgresEngine(config={"dsn": os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1/galaxy")})

APP_REGISTRY = AppRegistry(apps=["server.piccolo_app"])
