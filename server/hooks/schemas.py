"""Wire types of the webhooks API (management under /api, intake at /hooks/{id})."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from engine.events import RunStatus
from server.runs.schemas import Actor
from server.text import DISPLAY_TEXT

HookName = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=DISPLAY_TEXT)]
CallbackUrl = Annotated[str, msgspec.Meta(max_length=2000)]


class HookCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new webhook trigger; `callback_url` (optional) receives each finished run, signed."""

    name: HookName
    callback_url: CallbackUrl = ""


class HookUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Change any of a hook's name, whether it accepts requests, and its callback URL ("" for none)."""

    name: HookName | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    callback_url: CallbackUrl | msgspec.UnsetType = msgspec.UNSET


class HookOut(msgspec.Struct, kw_only=True):
    id: UUID
    workflow_id: UUID
    name: str
    url: str
    enabled: bool
    callback_url: str
    created_by: Actor | None
    created_at: datetime
    rotated_at: datetime | None
    # Until when the secret replaced by the last rotation still verifies (None: it no longer does).
    previous_secret_valid_until: datetime | None


class HookCreated(HookOut, kw_only=True):
    """A hook with its secret: shown once, when it is made or rotated."""

    secret: str


class HookList(msgspec.Struct):
    items: list[HookOut]


class DeliveryOut(msgspec.Struct, kw_only=True):
    id: UUID
    kind: Literal["intake", "callback"]
    # intake: accepted, duplicate, rejected; callback: delivered, retrying, failed, refused.
    outcome: str
    reason: str
    status_code: int
    run_id: UUID | None
    address: str
    idempotency_key: str | None
    attempt: int
    latency_ms: int
    received_at: datetime


class DeliveryPage(msgspec.Struct):
    items: list[DeliveryOut]
    next_cursor: str | None


class HookAnswer(msgspec.Struct, kw_only=True):
    """The intake's answer while the run is not finished (202), or for a repeated delivery (200)."""

    run_id: UUID
    status_url: str
    status: RunStatus
    duplicate: bool = False
