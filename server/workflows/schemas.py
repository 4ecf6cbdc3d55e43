"""Wire types of the workflows API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from server.accounts.schemas import Email
from server.tables import Role
from server.text import DISPLAY_TEXT
from server.workflows.format import GraphJson

WorkflowName = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=DISPLAY_TEXT)]


class WorkflowCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: WorkflowName | None = None
    template: Literal["marketing-kit"] | None = None


class WorkflowRename(msgspec.Struct, forbid_unknown_fields=True):
    name: WorkflowName


class Owner(msgspec.Struct):
    id: UUID
    name: str


class WorkflowSummary(msgspec.Struct):
    id: UUID
    name: str
    role: Role
    owner: Owner
    created_at: datetime
    updated_at: datetime


class WorkflowPage(msgspec.Struct):
    items: list[WorkflowSummary]
    next_cursor: str | None


class WorkflowDetail(msgspec.Struct):
    id: UUID
    name: str
    role: Role
    owner_id: UUID
    created_at: datetime
    updated_at: datetime
    graph: GraphJson
    problems: list[dict[str, Any]] = msgspec.field(default_factory=list)


class MemberOut(msgspec.Struct):
    user_id: UUID
    email: str
    name: str
    role: Role
    created_at: datetime


class MemberList(msgspec.Struct):
    items: list[MemberOut]


class MemberInvite(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    role: Literal["editor", "viewer"] = "editor"


class MemberUpdate(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["editor", "viewer"]
