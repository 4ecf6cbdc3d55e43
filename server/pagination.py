"""Keyset pagination cursors: an opaque token for "after (timestamp, id)"."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from uuid import UUID

import msgspec

from server.errors import Invalid


def encode_cursor(stamp: datetime, ident: UUID) -> str:
    raw = msgspec.json.encode([stamp.isoformat(), str(ident)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The position a cursor names; Invalid (422) for anything a previous page did not hand out."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, ident = msgspec.json.decode(base64.urlsafe_b64decode(padded), type=tuple[datetime, UUID])
        if stamp.tzinfo is None:
            raise ValueError("naive timestamp")
        return stamp.astimezone(UTC), ident
    except (ValueError, msgspec.DecodeError, TypeError, OverflowError):
        raise Invalid("The cursor is not valid; use the next_cursor of a previous page.") from None
