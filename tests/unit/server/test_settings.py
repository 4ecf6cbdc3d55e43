"""Settings come from the environment only and fail with one line naming the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from server.settings import PROJECT_ROOT, SettingsError, load_settings

GOOD = {
    "DATABASE_URL": "postgresql://galaxy:pw@db.internal:5432/galaxy",
    "REDIS_URL": "redis://cache:6379/0",
    "SECRET_KEY": "k" * 40,
}


def test_good_environment() -> None:
    settings = load_settings({**GOOD, "PORT": "9000", "MAX_NODES": "50", "LOG_JSON": "no"})
    assert settings.port == 9000 and settings.max_nodes == 50 and settings.log_json is False
    assert settings.secure_cookies is False


def test_https_public_url_turns_on_secure_cookies() -> None:
    assert load_settings({**GOOD, "GALAXY_PUBLIC_URL": "https://galaxy.example.com/"}).secure_cookies is True
    assert (
        load_settings({**GOOD, "GALAXY_PUBLIC_URL": "https://x.example", "SECURE_COOKIES": "0"}).secure_cookies is False
    )


def test_trusted_proxies_are_normalised_networks() -> None:
    assert load_settings({**GOOD}).trusted_proxies == ""
    settings = load_settings({**GOOD, "TRUSTED_PROXIES": " 10.0.0.5, 10.1.0.0/16 ,::1"})
    assert settings.trusted_proxies == "10.0.0.5/32,10.1.0.0/16,::1/128"


def test_unix_socket_database_url_is_accepted() -> None:
    url = "postgresql://postgres:@/galaxy?host=/tmp/pg"
    assert load_settings({**GOOD, "DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DATABASE_URL", None, "DATABASE_URL is not set"),
        ("DATABASE_URL", "", "DATABASE_URL is not set"),
        ("DATABASE_URL", "mysql://x@y/z", "DATABASE_URL is invalid: expected a URL starting with postgres://"),
        ("DATABASE_URL", "postgresql://", "DATABASE_URL is invalid"),
        ("DATABASE_URL", "postgresql://h:notaport/db", "DATABASE_URL is invalid"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL is invalid"),
        ("SECRET_KEY", "short", "SECRET_KEY is invalid: expected a random string of at least 32"),
        ("PORT", "http", "PORT is invalid: expected an integer between 1 and 65535"),
        ("PORT", "70000", "PORT is invalid"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL is invalid: expected one of DEBUG"),
        ("SECURE_COOKIES", "maybe", "SECURE_COOKIES is invalid: expected true or false"),
        ("GALAXY_REDIS_NAMESPACE", "has space", "GALAXY_REDIS_NAMESPACE is invalid"),
        ("GALAXY_PUBLIC_URL", "galaxy.example", "GALAXY_PUBLIC_URL is invalid"),
        ("TRUSTED_PROXIES", "10.0.0.1,nginx", "TRUSTED_PROXIES is invalid: expected a comma-separated list of IP"),
        ("METRICS_TOKEN", "short", "METRICS_TOKEN is invalid: expected a random string of at least 16"),
        ("METRICS_PORT", "-1", "METRICS_PORT is invalid"),
        ("DOCUMENT_PROCESSES", "0", "DOCUMENT_PROCESSES is invalid"),
        ("GALAXY_EXTRA_NODES", "no such module", "GALAXY_EXTRA_NODES is invalid: expected a Python module path"),
        ("GALAXY_EXTRA_NODES", "galaxy_missing.nodes", "GALAXY_EXTRA_NODES is invalid: cannot import"),
        ("GALAXY_EXTRA_NODES", "json", "GALAXY_EXTRA_NODES is invalid: Module json must define NODES"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str | None, expected: str) -> None:
    env = dict(GOOD)
    if value is None:
        env.pop(variable)
    else:
        env[variable] = value
    with pytest.raises(SettingsError) as err:
        load_settings(env)
    assert str(err.value).startswith(expected)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("command", ["web", "worker", "migrate"])
def test_bad_database_url_stops_start_up_with_one_line(command: str) -> None:
    env = {"PATH": "/usr/bin:/bin", **GOOD, "DATABASE_URL": "postgres//oops"}
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", command],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "galaxy: DATABASE_URL is invalid: expected a URL starting with postgres:// or postgresql://."
    ]


@pytest.mark.parametrize("command", ["web", "worker"])
def test_bad_extra_nodes_module_stops_start_up_with_one_line(command: str) -> None:
    env = {"PATH": "/usr/bin:/bin", **GOOD, "GALAXY_EXTRA_NODES": "galaxy_missing.nodes"}
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", command], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("galaxy: GALAXY_EXTRA_NODES is invalid: cannot import"), lines
