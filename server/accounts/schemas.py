"""Wire types of the accounts API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from server.accounts.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from server.text import DISPLAY_TEXT

Email = Annotated[
    str,
    msgspec.Meta(
        max_length=320,
        pattern=r"^\s*[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+\s*$",
        description="An email address.",
        examples=["ada@example.com"],
    ),
]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
NewPassword = Annotated[
    str,
    msgspec.Meta(
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        description=f"At least {MIN_PASSWORD_LENGTH} characters.",
    ),
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=DISPLAY_TEXT)]


class SignUp(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: NewPassword
    name: Name


class SignIn(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password


class UserOut(msgspec.Struct):
    id: UUID
    email: str
    name: str
    created_at: datetime


class Me(msgspec.Struct):
    id: UUID
    email: str
    name: str
    created_at: datetime
    authenticated_by: str
    csrf_token: str | None = None


class TokenCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name


class TokenOut(msgspec.Struct):
    id: UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


class TokenCreated(msgspec.Struct):
    id: UUID
    name: str
    prefix: str
    created_at: datetime
    token: str = msgspec.field(name="token")


class TokenList(msgspec.Struct):
    items: list[TokenOut]
