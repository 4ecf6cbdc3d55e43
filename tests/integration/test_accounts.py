"""Sign-up, sign-in, sign-out, sessions, API tokens, CSRF and the sign-in rate limit."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import msgspec
import pytest

from server.settings import Settings
from tests.support import PASSWORD, Clients, User, assert_problem, run_server, sql

NewUser = Callable[..., User]


def test_signup_sets_a_hardened_session_cookie(base_url: str, settings: Settings, clients: Clients) -> None:
    client = clients(base_url)
    body = {"email": "New.Person@Example.com ", "password": PASSWORD, "name": "N"}
    response = client.post("/api/auth/signup", json=body)
    assert response.status_code == 201
    cookie = response.headers["set-cookie"].lower()
    assert "galaxy_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # plain HTTP here; see the HTTPS test below
    me = client.get("/api/auth/me").json()
    assert me["email"] == "new.person@example.com" and me["authenticated_by"] == "session"
    stored = sql(settings.database_url, "SELECT password_hash FROM users WHERE email = $1", me["email"])
    assert stored[0]["password_hash"].startswith("$argon2id$")


def test_secure_cookie_behind_https(settings: Settings) -> None:
    https = msgspec.structs.replace(settings, public_url="https://galaxy.example", secure_cookies=True)
    with run_server(https) as url:
        body = {"email": "secure@example.com", "password": PASSWORD, "name": "S"}
        response = httpx.post(f"{url}/api/auth/signup", json=body)
        assert response.status_code == 201
        assert "secure" in response.headers["set-cookie"].lower()


def test_duplicate_signup_and_weak_password(base_url: str, new_user: NewUser) -> None:
    user = new_user()
    again = httpx.post(f"{base_url}/api/auth/signup", json={"email": user.email, "password": PASSWORD, "name": "X"})
    assert_problem(again, 409, "already exists")
    weak = httpx.post(f"{base_url}/api/auth/signup", json={"email": "w@example.com", "password": "short", "name": "W"})
    assert_problem(weak, 400, "password")


def test_login_logout_and_session_revocation(base_url: str, new_user: NewUser, clients: Clients) -> None:
    user = new_user()
    browser = clients(base_url)
    wrong = browser.post("/api/auth/login", json={"email": user.email, "password": "wrong password"})
    assert_problem(wrong, 401, "wrong email or password")
    login = browser.post("/api/auth/login", json={"email": user.email.upper(), "password": PASSWORD})
    assert login.status_code == 200
    cookie = browser.cookies["galaxy_session"]
    assert browser.get("/api/auth/me").status_code == 200
    assert browser.post("/api/auth/logout", headers={"x-csrf-token": login.json()["csrf_token"]}).status_code == 204
    # The old cookie is dead on the server, not merely cleared in this browser.
    assert_problem(httpx.get(f"{base_url}/api/auth/me", cookies={"galaxy_session": cookie}), 401, "sign in")


def test_login_issues_a_new_session_id(base_url: str, new_user: NewUser, clients: Clients) -> None:
    user = new_user()
    planted = user.http.cookies["galaxy_session"]
    browser = clients(base_url, cookies={"galaxy_session": planted})
    login = browser.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
    assert login.cookies["galaxy_session"] != planted
    assert_problem(httpx.get(f"{base_url}/api/auth/me", cookies={"galaxy_session": planted}), 401)


def test_sessions_expire(settings: Settings, clients: Clients) -> None:
    with run_server(msgspec.structs.replace(settings, session_max_age=1)) as url:
        user = clients.user(url)
        assert user.http.get("/api/auth/me").status_code == 200
        time.sleep(1.5)
        assert_problem(user.http.get("/api/auth/me"), 401)


def test_csrf_required_for_cookie_writes(base_url: str, new_user: NewUser, clients: Clients) -> None:
    user = new_user()
    bare = clients(base_url, cookies=user.http.cookies)
    assert_problem(bare.post("/api/workflows", json={"name": "x"}), 403, "csrf")
    assert_problem(bare.post("/api/workflows", json={"name": "x"}, headers={"x-csrf-token": "forged"}), 403, "csrf")
    assert_problem(bare.post("/api/auth/logout"), 403, "csrf")
    assert bare.get("/api/workflows").json()["items"] == []  # reads need no token; nothing was created
    assert bare.get("/api/auth/me").status_code == 200  # the refused logout did not end the session


def test_api_tokens_work_until_revoked(base_url: str, settings: Settings, new_user: NewUser, clients: Clients) -> None:
    user = new_user()
    created = user.http.post("/api/tokens", json={"name": "ci"})
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("glx_")
    listed = user.http.get("/api/tokens").json()["items"]
    assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]
    stored = sql(settings.database_url, "SELECT token_hash FROM api_tokens WHERE id = $1::uuid", created.json()["id"])
    assert token not in stored[0]["token_hash"]
    assert listed[0]["last_used_at"] is None
    script = clients(base_url, headers={"authorization": f"Bearer {token}"})
    assert script.get("/api/auth/me").json()["authenticated_by"] == "token"
    assert user.http.get("/api/tokens").json()["items"][0]["last_used_at"] is not None  # the use is on record
    assert script.post("/api/workflows", json={"name": "from a script"}).status_code == 201  # no CSRF for bearer
    assert user.http.delete(f"/api/tokens/{created.json()['id']}").status_code == 204
    assert_problem(script.get("/api/auth/me"), 401, "revoked")
    assert user.http.get("/api/tokens").json()["items"] == []


def test_tokens_are_private(new_user: NewUser) -> None:
    alice, bob = new_user("alice"), new_user("bob")
    token_id = alice.http.post("/api/tokens", json={"name": "mine"}).json()["id"]
    assert_problem(bob.http.delete(f"/api/tokens/{token_id}"), 404)
    assert bob.http.get("/api/tokens").json()["items"] == []
    assert len(alice.http.get("/api/tokens").json()["items"]) == 1


@pytest.mark.parametrize(
    "header", ["Bearer glx_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer", "bearer glx_" + "x" * 500]
)
def test_bad_authorization_headers(base_url: str, header: str) -> None:
    assert_problem(httpx.get(f"{base_url}/api/auth/me", headers={"authorization": header}), 401)


def test_sign_in_rate_limited_per_email_and_per_ip(settings: Settings, clients: Clients) -> None:
    limited = msgspec.structs.replace(
        settings,
        login_limit_per_email=3,
        login_limit_per_ip=5,
        redis_namespace=settings.redis_namespace + "-rl",
    )
    with run_server(limited) as url:
        user = clients.user(url)
        client = clients(url)
        for _ in range(3):
            attempt = client.post("/api/auth/login", json={"email": user.email, "password": "nope nope"})
            assert attempt.status_code == 401
        blocked = client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD})
        body = assert_problem(blocked, 429, "try again")
        assert int(blocked.headers["retry-after"]) > 0 and body["retry_after"] > 0
        # Another email from the same address runs into the per-IP limit (5) next.
        client.post("/api/auth/login", json={"email": "other@example.com", "password": "nope nope"})
        assert_problem(client.post("/api/auth/login", json={"email": "third@example.com", "password": "x"}), 429)


def test_successful_sign_ins_do_not_count_towards_the_email_limit(settings: Settings, clients: Clients) -> None:
    limited = msgspec.structs.replace(
        settings, login_limit_per_email=2, redis_namespace=settings.redis_namespace + "-ok"
    )
    with run_server(limited) as url:
        user = clients.user(url)
        client = clients(url)
        for _ in range(4):
            assert client.post("/api/auth/login", json={"email": user.email, "password": PASSWORD}).status_code == 200
