"""Who is calling: a session cookie (with CSRF token on writes) or a personal API token.

Handlers marked `opt={"exclude_from_auth": True}` are public; everything else requires one of
the two. A cookie-authenticated request that changes state must carry the session's CSRF token
in the `X-CSRF-Token` header (synchronizer-token pattern); bearer requests need none because a
browser never attaches them on its own.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from server.accounts import service
from server.accounts.sessions import SESSION_COOKIE, Session, SessionStore
from server.errors import Forbidden, Unauthorized
from server.http_rules import SAFE_METHODS

CSRF_HEADER = "x-csrf-token"


class CurrentUser(msgspec.Struct, frozen=True):
    """The authenticated caller of a request."""

    id: UUID
    email: str
    name: str
    created_at: datetime
    via: str  # "session" or "token"
    session: Session | None = None


def _user(row: dict[str, Any], via: str, session: Session | None = None) -> CurrentUser:
    return CurrentUser(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        created_at=row["created_at"],
        via=via,
        session=session,
    )


async def identify(connection: ASGIConnection[Any, Any, Any, Any], sessions: SessionStore) -> CurrentUser | None:
    """The caller of `connection`, or None when it carries no valid credentials.

    Raises Unauthorized when an Authorization header is present but wrong: a script with a bad
    token should hear so, not be treated as anonymous.
    """
    header = connection.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("The Authorization header must be 'Bearer <API token>'.")
        row = await service.user_for_token(token.strip())
        if row is None:
            raise Unauthorized("This API token is not valid or has been revoked.")
        return _user(row, "token")
    session_id = connection.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    session = await sessions.get(session_id)
    if session is None:
        return None
    row = await service.find_user_by_id(session.user_id)
    if row is None:
        return None
    return _user(row, "session", session)


class AuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        sessions: SessionStore = connection.app.state.sessions
        user = await identify(connection, sessions)
        if user is None:
            raise Unauthorized("Sign in, or send an API token as 'Authorization: Bearer <token>'.")
        if user.session is not None and connection.scope.get("method", "GET") not in SAFE_METHODS:
            sent = connection.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), user.session.csrf_token.encode()):
                raise Forbidden(
                    "Missing or wrong CSRF token: send the csrf_token from /api/auth/me in the X-CSRF-Token header."
                )
        return AuthenticationResult(user=user, auth=user.via)
