"""Fixtures of the run tests: a server that knows the test node types, its users, and the file
test node executions are logged to."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from server.settings import Settings
from tests.integration.runs_nodes import LOG_VARIABLE
from tests.integration.runs_support import in_process_worker, runs_settings
from tests.support import Clients, User, run_server


@pytest.fixture(scope="module")
def node_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A file every test node execution is appended to (see runs_nodes)."""
    path = tmp_path_factory.mktemp("nodes") / "executions.log"
    path.touch()
    previous = os.environ.get(LOG_VARIABLE)
    os.environ[LOG_VARIABLE] = str(path)
    yield path
    if previous is None:
        os.environ.pop(LOG_VARIABLE, None)
    else:
        os.environ[LOG_VARIABLE] = previous


@pytest.fixture(scope="module")
def runs_url(settings: Settings) -> Iterator[str]:
    with run_server(runs_settings(settings)) as url:
        yield url


@pytest.fixture
def runs_user(clients: Clients, runs_url: str) -> Callable[..., User]:
    return lambda name="": clients.user(runs_url, name)


# The webhook tests' server: a low rate limit and delivery retention, so both can be reached.
HOOK_OPTIONS: dict[str, Any] = {
    "webhook_rate_limit": 30,
    "webhook_delivery_retention": 25,
    "max_active_runs": 1,  # webhook runs are not held to it (test_the_active_run_cap_...)
}


@pytest.fixture(scope="module")
def hooks_url(settings: Settings, node_log: Path) -> Iterator[str]:
    """A server and an in-process worker for the webhook tests, one per test module."""
    options = runs_settings(settings, **HOOK_OPTIONS)
    with run_server(options) as url, in_process_worker(options):
        yield url
