"""Data migrations: version counts for old versions, and stored emails in their normal form."""

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


EMAILS = (
    "import asyncio, importlib\n"
    "migration = importlib.import_module('migrations.galaxy_2026_12_01t14_30_02_000000')\n"
    "asyncio.run(migration._normalise())\n"
)


def test_stored_emails_are_normalised_without_merging_accounts(
    settings: Settings, new_user: Callable[..., User]
) -> None:
    old, twin = new_user("old"), new_user("twin")
    legacy = old.email.replace("old-", "straße-")
    # Two accounts as the old rule (lower-case only) could have stored them.
    sql(settings.database_url, "UPDATE users SET email = $1 WHERE id = $2::uuid", legacy, old.id)
    clash = twin.email.replace("twin-", "TWIN\uff0d")
    sql(settings.database_url, "UPDATE users SET email = $1 WHERE id = $2::uuid", clash.lower(), twin.id)
    sql(settings.database_url, "INSERT INTO users (id, email, name, password_hash, created_at) "
        "VALUES (gen_random_uuid(), $1, 'x', 'x', now())", clash.lower().replace("\uff0d", "-"))  # fmt: skip
    env = {**os.environ, "DATABASE_URL": settings.database_url, "PICCOLO_CONF": "piccolo_conf"}
    result = subprocess.run(
        [sys.executable, "-c", EMAILS], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    emails = {r["id"]: r["email"] for r in sql(settings.database_url, "SELECT id::text, email FROM users")}
    assert emails[old.id] == legacy.replace("ß", "ss")
    assert emails[twin.id] == clash.lower() and "left as it is" in result.stdout
