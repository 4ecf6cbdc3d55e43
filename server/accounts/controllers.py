"""Sign-up, sign-in, sign-out, current user and personal API tokens."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from server.accounts import service
from server.accounts.auth import CurrentUser
from server.accounts.schemas import Me, SignIn, SignUp, TokenCreate, TokenCreated, TokenList, TokenOut
from server.accounts.sessions import SESSION_COOKIE, Session, SessionStore
from server.errors import Forbidden, Unauthorized
from server.http_rules import PUBLIC
from server.ratelimit import RateLimiter
from server.revocation import Revocations, token_key
from server.settings import Settings
from server.text import normalize_email


def client_ip(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


def _me(user: CurrentUser | dict[str, Any], via: str, session: Session | None) -> Me:
    fields = user if isinstance(user, dict) else msgspec.structs.asdict(user)
    return Me(
        id=fields["id"],
        email=fields["email"],
        name=fields["name"],
        created_at=fields["created_at"],
        authenticated_by=via,
        csrf_token=session.csrf_token if session else None,
    )


def _session_cookie(settings: NamedDependency[Settings], value: str, max_age: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


class AuthController(Controller):
    path = "/api/auth"
    tags = ["accounts"]

    async def _start_session(self, request: Request[Any, Any, Any], user: dict[str, Any], status: int) -> Response[Me]:
        sessions: SessionStore = request.app.state.sessions
        settings: NamedDependency[Settings] = request.app.state.settings
        old = request.cookies.get(SESSION_COOKIE)
        if old:
            await sessions.revoke(old)
        session_id, session = await sessions.create(str(user["id"]))
        return Response(
            _me(user, "session", session),
            status_code=status,
            cookies=[_session_cookie(settings, session_id, settings.session_max_age)],
        )

    @post("/signup", opt=PUBLIC, summary="Create an account and sign in")
    async def signup(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SignUp],
        limiter: NamedDependency[RateLimiter],
        settings: NamedDependency[Settings],
    ) -> Response[Me]:
        await limiter.hit("sign-up", client_ip(request), limit=settings.signup_limit_per_ip, window=3600)
        user = await service.create_user(data.email, data.password, data.name)
        return await self._start_session(request, user, 201)

    @post("/login", opt=PUBLIC, summary="Sign in with email and password")
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SignIn],
        limiter: NamedDependency[RateLimiter],
        settings: NamedDependency[Settings],
    ) -> Response[Me]:
        window = settings.login_limit_window
        await limiter.hit("sign-in", client_ip(request), limit=settings.login_limit_per_ip, window=window)
        email = normalize_email(data.email)
        # Per email, an attempt is counted and judged in one atomic step *before* the password is
        # checked, so parallel guesses cannot all pass a check made before any of them was
        # counted. A correct password clears the count, so successes never lock anyone out.
        await limiter.hit("sign-in-email", email, limit=settings.login_limit_per_email, window=window)
        user = await service.authenticate(email, data.password)
        if user is None:
            raise Unauthorized("Wrong email or password.")
        await limiter.reset("sign-in-email", email)
        return await self._start_session(request, user, 200)

    @post("/logout", status_code=204, summary="Sign out (ends this session)")
    async def logout(
        self, request: Request[CurrentUser, Any, Any], settings: NamedDependency[Settings]
    ) -> Response[None]:
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            await request.app.state.sessions.revoke(session_id)
        return Response(None, status_code=204, cookies=[_session_cookie(settings, "", 0)])

    @get("/me", summary="The signed-in user (with the CSRF token for cookie sessions)")
    async def me(self, request: Request[CurrentUser, Any, Any]) -> Me:
        user = request.user
        return _me(user, user.via, user.session)


class TokenController(Controller):
    path = "/api/tokens"
    tags = ["accounts"]

    @post("/", summary="Create a personal API token (shown once)")
    async def create(self, request: Request[CurrentUser, Any, Any], data: JSONBody[TokenCreate]) -> TokenCreated:
        """Only a signed-in session may create tokens: a leaked token must not be able to mint
        successors that outlive its revocation."""
        if request.user.via != "session":
            raise Forbidden("API tokens cannot create tokens; sign in with your password to create one.")
        row, token = await service.create_token(request.user.id, data.name)
        return TokenCreated(
            id=row["id"], name=row["name"], prefix=row["prefix"], created_at=row["created_at"], token=token
        )

    @get("/", summary="List your API tokens")
    async def list_tokens(self, request: Request[CurrentUser, Any, Any]) -> TokenList:
        rows = await service.list_tokens(request.user.id)
        return TokenList(items=[TokenOut(**row) for row in rows])

    @delete("/{token_id:uuid}", summary="Revoke an API token")
    async def revoke(self, request: Request[CurrentUser, Any, Any], token_id: FromPath[UUID]) -> None:
        """Revoking also closes, on every web process, the WebSockets opened with the token."""
        token_hash = await service.revoke_token(request.user.id, token_id)
        revocations: Revocations = request.app.state.revocations
        await revocations.revoke(token_key(token_hash))
