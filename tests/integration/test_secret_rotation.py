"""Rotating SECRET_KEY: hooks keep verifying with the old key as a previous one, and
`galaxy reencrypt-secrets` moves every stored secret to the new key."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import msgspec
import pytest

from server.hooks.secret import SecretBox
from server.settings import PROJECT_ROOT, Settings
from tests.support import Clients, run_server, sql


def _reencrypt(settings: Settings, key: str, previous: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "SECRET_KEY": key,
        "SECRET_KEY_PREVIOUS": previous,
    }
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "reencrypt-secrets"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_secret_key_rotation_keeps_every_hook_working(settings: Settings, clients: Clients) -> None:
    old_key, new_key = settings.secret_key, "n" * 40
    with run_server(settings) as url:
        owner = clients.user(url, "owner")
        workflow = owner.create_workflow(name="Rotated")
        made = owner.http.post(f"/api/workflows/{workflow['id']}/hooks", json={"name": "crm"})
        assert made.status_code == 201, made.text
        hook = made.json()
    stored = sql(settings.database_url, "SELECT secret_encrypted FROM webhooks WHERE id = $1", uuid.UUID(hook["id"]))
    sealed = stored[0]["secret_encrypted"]
    assert SecretBox(old_key).open(sealed) == hook["secret"]
    with pytest.raises(ValueError):
        SecretBox(new_key).open(sealed)

    # Step 1: the new key, the old one as previous: the hook still authenticates.
    rotated = msgspec.structs.replace(settings, secret_key=new_key, secret_key_previous=(old_key,))
    with run_server(rotated) as url:
        answer = clients(url).post(
            f"/hooks/{hook['id']}", json={"inputs": {}}, headers={"authorization": f"Bearer {hook['secret']}"}
        )
        assert answer.status_code != 401, answer.text
    # Without the old key the command refuses and changes nothing.
    refused = _reencrypt(settings, new_key, "")
    assert refused.returncode != 0 and "SECRET_KEY_PREVIOUS" in refused.stderr
    # Step 2: re-encrypt; step 3: the old key is no longer needed.
    done = _reencrypt(settings, new_key, old_key)
    try:
        assert done.returncode == 0, done.stderr
        resealed = sql(
            settings.database_url, "SELECT secret_encrypted FROM webhooks WHERE id = $1", uuid.UUID(hook["id"])
        )
        assert SecretBox(new_key).open(resealed[0]["secret_encrypted"]) == hook["secret"]
    finally:  # the database is shared with the other tests: back to the key their servers use
        assert _reencrypt(settings, old_key, new_key).returncode == 0
