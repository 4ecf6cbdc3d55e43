"""Users and personal API tokens."""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from collab.tasks import spawn
from server.accounts.passwords import hash_password, needs_rehash, verify_password
from server.database import Statement
from server.errors import Conflict, NotFound
from server.tables import ApiToken, User
from server.text import normalize_email

TOKEN_PREFIX = "glx_"
TOKEN_USE_PRECISION = timedelta(minutes=1)


def token_digest(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(email: str, password: str, name: str) -> dict[str, Any]:
    email = normalize_email(email)
    password_hash = await hash_password(password)
    user = User(email=email, name=name.strip(), password_hash=password_hash)
    try:
        await user.save()
    except asyncpg.UniqueViolationError:
        raise Conflict("An account with this email already exists. Sign in instead.") from None
    return await get_user(user.id)


def _public_columns() -> tuple[Any, ...]:
    """What other code may see of a user (never the password hash)."""
    return (User.id, User.email, User.name, User.created_at)


async def get_user(user_id: UUID | str) -> dict[str, Any]:
    row = await User.select(*_public_columns()).where(User.id == user_id).first()
    if row is None:
        raise NotFound("No such user.")
    return row


async def find_user_by_email(email: str) -> dict[str, Any] | None:
    return await User.select(*_public_columns()).where(User.email == normalize_email(email)).first()


async def authenticate(email: str, password: str) -> dict[str, Any] | None:
    """The user whose email and password these are, or None; same cost either way."""
    row = await User.select().where(User.email == normalize_email(email)).first()
    ok = await verify_password(row["password_hash"] if row else None, password)
    if not row or not ok:
        return None
    if needs_rehash(row["password_hash"]):
        await User.update({User.password_hash: await hash_password(password)}).where(User.id == row["id"])
    return {k: row[k] for k in ("id", "email", "name", "created_at")}


async def create_token(user_id: UUID, name: str) -> tuple[dict[str, Any], str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(user=user_id, name=name.strip(), token_hash=token_digest(token), prefix=token[:10])
    await record.save()
    row = await _token_query(user_id).where(ApiToken.id == record.id).first()
    assert row is not None
    return row, token


def _token_query(user_id: UUID) -> Any:
    return ApiToken.select(
        ApiToken.id, ApiToken.name, ApiToken.prefix, ApiToken.created_at, ApiToken.last_used_at
    ).where((ApiToken.user == user_id) & ApiToken.revoked_at.is_null())


async def list_tokens(user_id: UUID) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await _token_query(user_id).order_by(ApiToken.created_at, ascending=False)
    return rows


async def revoke_token(user_id: UUID, token_id: UUID) -> str:
    """Revoke one of the user's tokens; returns its stored hash (which names its open sockets)."""
    updated = await (
        ApiToken.update({ApiToken.revoked_at: datetime.now(UTC)})
        .where((ApiToken.id == token_id) & (ApiToken.user == user_id) & ApiToken.revoked_at.is_null())
        .returning(ApiToken.token_hash)
    )
    if not updated:
        raise NotFound("No such token.")
    token_hash: str = updated[0]["token_hash"]
    return token_hash


async def user_for_token(token: str) -> dict[str, Any] | None:
    """The owner of a live token, or None. Records when the token was last used."""
    if not _token_shaped(token):
        return None
    row = await (
        ApiToken.select(ApiToken.id, ApiToken.user, ApiToken.last_used_at)
        .where((ApiToken.token_hash == token_digest(token)) & ApiToken.revoked_at.is_null())
        .first()
    )
    if row is None:
        return None
    await _note_use(row["id"], row["last_used_at"])
    return await find_user_by_id(row["user"])


def _token_shaped(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and len(token) <= 128


# Tokens whose use this process recorded lately (monotonic seconds), so that a burst of requests
# or sockets with one token writes its row once, not once per request that read the old time.
_noted: dict[UUID, float] = {}
_NOTED_MAX = 10_000


async def _note_use(token_id: UUID, last_used_at: datetime | None) -> None:
    now = datetime.now(UTC)
    # Recording every use would make busy scripts contend for one row; a minute's precision is plenty.
    if last_used_at is not None and now - last_used_at <= TOKEN_USE_PRECISION:
        return
    noted = _noted.get(token_id)
    if noted is not None and time.monotonic() - noted <= TOKEN_USE_PRECISION.total_seconds():
        return
    if len(_noted) >= _NOTED_MAX:
        _noted.clear()
    _noted[token_id] = time.monotonic()
    await ApiToken.update({ApiToken.last_used_at: now}).where(ApiToken.id == token_id)


# --- a collaboration socket's member: who, and their role on workflows, in one round trip ---
# Sockets of one credential that join at once (several workflows opened after a restart, a
# script opening many) are answered by one statement for all their workflows.

_ROLE_ON_WORKFLOW = (
    "(SELECT m.role FROM memberships m JOIN workflows w ON w.id = m.workflow"
    ' WHERE m.workflow = asked.id AND m."user" = u.id AND w.deleted_at IS NULL) AS role'
)
_MEMBERS_BY_TOKEN = (
    f"SELECT u.id, u.name, t.id AS token_id, t.last_used_at, asked.id AS workflow, {_ROLE_ON_WORKFLOW}"
    ' FROM api_tokens t JOIN users u ON u.id = t."user" CROSS JOIN unnest($2::uuid[]) AS asked(id)'
    " WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
)
_MEMBERS_BY_ID = (
    f"SELECT u.id, u.name, asked.id AS workflow, {_ROLE_ON_WORKFLOW}"
    " FROM users u CROSS JOIN unnest($2::uuid[]) AS asked(id) WHERE u.id = $1"
)


# Prepared on every connection of the web's pool when it opens (server/database.py `_warmed`).
ADMISSION_STATEMENTS: tuple[Statement, ...] = ((_MEMBERS_BY_TOKEN, ("", [])), (_MEMBERS_BY_ID, (UUID(int=0), [])))


async def members_by_token(
    pool: asyncpg.Pool, token: str, workflow_ids: list[UUID | None]
) -> list[asyncpg.Record | None]:
    """For each workflow (in order): the owner of a live API token (`id`, `name`) with their
    `role` on it (None when they are not a member, or it is gone or None); None for every
    workflow when the token is unknown or revoked."""
    if not _token_shaped(token):
        return [None] * len(workflow_ids)
    rows = await pool.fetch(_MEMBERS_BY_TOKEN, token_digest(token), workflow_ids)
    if rows:  # written while the sockets go on joining
        spawn(_note_use(rows[0]["token_id"], rows[0]["last_used_at"]))
    return _in_order(rows, workflow_ids)


async def members_by_id(
    pool: asyncpg.Pool, user_id: str, workflow_ids: list[UUID | None]
) -> list[asyncpg.Record | None]:
    """`members_by_token` for a signed-in user's id."""
    try:
        rows = await pool.fetch(_MEMBERS_BY_ID, UUID(user_id), workflow_ids)
    except ValueError:
        return [None] * len(workflow_ids)
    return _in_order(rows, workflow_ids)


def _in_order(rows: list[asyncpg.Record], workflow_ids: list[UUID | None]) -> list[asyncpg.Record | None]:
    by_workflow = {row["workflow"]: row for row in rows}
    return [by_workflow.get(workflow_id) for workflow_id in workflow_ids]


async def find_user_by_id(user_id: UUID | str) -> dict[str, Any] | None:
    try:
        return await User.select(*_public_columns()).where(User.id == user_id).first()
    except (ValueError, asyncpg.DataError):
        return None
