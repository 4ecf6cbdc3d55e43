"""Attacks by a signed-up member or a leaked secret, each reproduced against a real server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import httpx
import msgspec
import pytest

from server.settings import Settings
from tests.support import PASSWORD, Clients, User, assert_problem, run_server

NewUser = Callable[..., User]


@pytest.fixture(scope="module")
def strict_url(settings: Settings) -> Iterator[str]:
    """A server with the default per-email sign-in limit (10)."""
    strict = msgspec.structs.replace(
        settings, login_limit_per_email=10, redis_namespace=settings.redis_namespace + "-strict"
    )
    with run_server(strict) as url:
        yield url


def test_a_token_cannot_mint_tokens(new_user: NewUser) -> None:
    user = new_user()
    script = user.token_client()
    assert_problem(script.post("/api/tokens", json={"name": "successor"}), 403, "sign in")
    assert len(user.http.get("/api/tokens").json()["items"]) == 1  # only the one the session made
    assert user.http.post("/api/tokens", json={"name": "by session"}).status_code == 201


def test_parallel_wrong_passwords_stop_at_the_email_limit(strict_url: str, clients: Clients) -> None:
    user = clients.user(strict_url)

    async def attack() -> list[int]:
        async with httpx.AsyncClient(base_url=strict_url, timeout=60) as client:
            body = {"email": user.email, "password": "wrong wrong wrong"}
            answers = await asyncio.gather(*(client.post("/api/auth/login", json=body) for _ in range(40)))
        return [a.status_code for a in answers]

    statuses = asyncio.run(attack())
    assert statuses.count(401) == 10 and statuses.count(429) == 30, statuses
    # Even the right password waits for the window now.
    right = clients(strict_url).post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert_problem(right, 429, "try again")


def test_emails_are_normalised_before_lookups(base_url: str, clients: Clients) -> None:
    client = clients(base_url)
    body = {"email": "\uff3aoë.Case@Example.COM", "password": PASSWORD, "name": "Zoë"}
    assert client.post("/api/auth/signup", json=body).status_code == 201
    again = clients(base_url).post("/api/auth/signup", json={**body, "email": "zoë.case@example.com"})
    assert_problem(again, 409, "already exists")
    login = clients(base_url).post("/api/auth/login", json={"email": "ZOË.CASE@example.com", "password": PASSWORD})
    assert login.status_code == 200 and login.json()["email"] == "zoë.case@example.com"


@pytest.mark.parametrize(
    "name", ["Mallory\u202egnp.exe", "ad\u200bmin", "\u2066Eve\u2069", "Bob\ufeff", "\u200f", "Zero\u200dWidth"]
)
def test_display_names_refuse_bidi_and_zero_width_characters(base_url: str, clients: Clients, name: str) -> None:
    body = {"email": "spoof@example.com", "password": PASSWORD, "name": name}
    assert_problem(clients(base_url).post("/api/auth/signup", json=body), 400)


def test_ordinary_names_in_any_script_are_welcome(base_url: str, clients: Clients) -> None:
    for name in ("Zoë 😀", "مريم", "東京 太郎"):
        body = {"email": f"n{len(name)}{ord(name[0])}@example.com", "password": PASSWORD, "name": name}
        assert clients(base_url).post("/api/auth/signup", json=body).status_code == 201
