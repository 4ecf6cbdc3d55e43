"""The migration that gave versions their node and edge counts fills them in for old versions."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from server.settings import PROJECT_ROOT, Settings
from tests.support import User, sql

SCRIPT = (
    "import asyncio, importlib\n"
    "migration = importlib.import_module('migrations.galaxy_2026_12_01t14_30_01_000000')\n"
    "asyncio.run(migration._backfill())\n"
)


def test_backfill_counts_old_versions(settings: Settings, new_user: Callable[..., User]) -> None:
    owner = new_user()
    workflow_id = owner.create_workflow(template="marketing-kit")["id"]
    saved = owner.http.post(f"/api/workflows/{workflow_id}/versions", json={"name": "old"}).json()
    # As a version made before the counts existed would look.
    sql(settings.database_url, "UPDATE workflow_versions SET nodes = 0, edges = 0 WHERE id = $1::uuid", saved["id"])
    env = {**os.environ, "DATABASE_URL": settings.database_url, "PICCOLO_CONF": "piccolo_conf"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    row = sql(settings.database_url, "SELECT nodes, edges FROM workflow_versions WHERE id = $1::uuid", saved["id"])
    assert (row[0]["nodes"], row[0]["edges"]) == (saved["nodes"], saved["edges"]) == (7, 7)
