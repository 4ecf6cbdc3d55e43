"""Piccolo tables: the whole Postgres schema.

Resources that appear in URLs have random UUID keys so ids leak nothing about other tenants.
Composite unique constraints and partial indexes that Piccolo cannot declare are created by
a raw-SQL migration (see migrations/).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from piccolo.columns import (
    JSONB,
    UUID,
    BigInt,
    BigSerial,
    Boolean,
    Bytea,
    DoublePrecision,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.engine.base import Engine
from piccolo.table import Table


class Role(StrEnum):
    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"


ROLE_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}


def can_write(role: Role) -> bool:
    """Editors and owners change documents and start runs; viewers only watch."""
    return ROLE_RANK[role] >= ROLE_RANK[Role.EDITOR]


class User(Table, tablename="users"):
    id = UUID(primary_key=True, default=UUID4())
    email = Varchar(length=320, unique=True, index=True)
    name = Varchar(length=200)
    password_hash = Text()
    created_at = Timestamptz(default=TimestamptzNow())


class ApiToken(Table, tablename="api_tokens"):
    id = UUID(primary_key=True, default=UUID4())
    user = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False, index=True)
    name = Varchar(length=200)
    token_hash = Varchar(length=64, unique=True, index=True)
    prefix = Varchar(length=16)
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class Workflow(Table, tablename="workflows"):
    id = UUID(primary_key=True, default=UUID4())
    owner = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False, index=True)
    name = Varchar(length=200)
    # Yjs update holding the whole document as of `snapshot_seq` (the last compacted log id).
    snapshot = Bytea()
    snapshot_seq = BigInt(default=0)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow(), index=True)
    deleted_at = Timestamptz(null=True, default=None)


class Membership(Table, tablename="memberships"):
    id = UUID(primary_key=True, default=UUID4())
    workflow = ForeignKey(references=Workflow, on_delete=OnDelete.cascade, null=False, index=True)
    user = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False, index=True)
    role = Varchar(length=16, choices=Role)
    created_at = Timestamptz(default=TimestamptzNow())


class DocumentUpdate(Table, tablename="document_updates"):
    """Append-only Yjs update log; compaction folds it into `Workflow.snapshot`."""

    id = BigSerial(primary_key=True)
    workflow = ForeignKey(references=Workflow, on_delete=OnDelete.cascade, null=False, index=True)
    data = Bytea()
    author = ForeignKey(references=User, on_delete=OnDelete.set_null, null=True)
    created_at = Timestamptz(default=TimestamptzNow())


class WorkflowVersion(Table, tablename="workflow_versions"):
    id = UUID(primary_key=True, default=UUID4())
    workflow = ForeignKey(references=Workflow, on_delete=OnDelete.cascade, null=False, index=True)
    name = Varchar(length=200, default="")
    automatic = Boolean(default=False)
    snapshot = Bytea()
    # Entries of the snapshot's `nodes` and `edges` maps, counted when the version is made, so
    # listing versions never decodes a snapshot.
    nodes = Integer(default=0)
    edges = Integer(default=0)
    author = ForeignKey(references=User, on_delete=OnDelete.set_null, null=True)
    created_at = Timestamptz(default=TimestamptzNow())


class Run(Table, tablename="runs"):
    id = UUID(primary_key=True, default=UUID4())
    workflow = ForeignKey(references=Workflow, on_delete=OnDelete.cascade, null=False, index=True)
    actor = ForeignKey(references=User, on_delete=OnDelete.set_null, null=True, index=True)
    trigger = Varchar(length=16)
    scope = Varchar(length=16)
    node_ids = JSONB(default=[])
    inputs = JSONB(default={})
    graph = JSONB(default={})
    status = Varchar(length=16, index=True)
    error = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)
    heartbeat_at = Timestamptz(null=True, default=None)
    event_seq = BigInt(default=0)
    cancel_requested_at = Timestamptz(null=True, default=None)
    # The webhook that started the run (trigger `webhook`); its name shows in the run history.
    hook = UUID(null=True, default=None)


class NodeRun(Table, tablename="node_runs"):
    id = UUID(primary_key=True, default=UUID4())
    run = ForeignKey(references=Run, on_delete=OnDelete.cascade, null=False, index=True)
    node_id = Varchar(length=64)
    node_type = Varchar(length=64)
    status = Varchar(length=16)
    cache_key = Varchar(length=64, default="", index=True)
    inputs = JSONB(default={})
    outputs = JSONB(default={})
    error = Text(default="")
    error_detail = Text(default="")
    usage = JSONB(default={})
    attempt = Integer(default=0)
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)
    duration_ms = Integer(null=True, default=None)
    # Scheduling state: predecessors still to succeed, and the worker holding the node until when.
    waits_for = Integer(default=0)
    worker = Varchar(length=64, default="")
    lease_until = Timestamptz(null=True, default=None)


class Media(Table, tablename="media"):
    """A stored file (upload or node output); its bytes live in storage under `storage_key`
    (content-addressed, so identical bytes are stored once whatever the number of rows)."""

    id = UUID(primary_key=True, default=UUID4())
    owner = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False, index=True)
    # The workflow it was uploaded for or produced in (null: uploaded without naming one).
    workflow = ForeignKey(references=Workflow, on_delete=OnDelete.cascade, null=True, index=True)
    kind = Varchar(length=16)
    filename = Varchar(length=255)
    content_type = Varchar(length=100)
    size = BigInt()
    sha256 = Varchar(length=64)
    storage_key = Varchar(length=255)
    created_at = Timestamptz(default=TimestamptzNow())
    width = Integer(null=True, default=None)
    height = Integer(null=True, default=None)
    duration = DoublePrecision(null=True, default=None)
    details = JSONB(default={})
    run = ForeignKey(references=Run, on_delete=OnDelete.set_null, null=True)


class MediaLink(Table, tablename="media_links"):
    """A workflow that uses a media file: its members may read the file (unique per pair)."""

    id = UUID(primary_key=True, default=UUID4())
    media = ForeignKey(references=Media, on_delete=OnDelete.cascade, null=False, index=True)
    workflow = ForeignKey(references=Workflow, on_delete=OnDelete.cascade, null=False, index=True)
    created_at = Timestamptz(default=TimestamptzNow())


class Webhook(Table, tablename="webhooks"):
    """A webhook trigger of a workflow (`POST /hooks/{id}`); runs it starts act as `created_by`."""

    id = UUID(primary_key=True, default=UUID4())
    workflow = ForeignKey(references=Workflow, on_delete=OnDelete.cascade, null=False, index=True)
    created_by = ForeignKey(references=User, on_delete=OnDelete.set_null, null=True)
    name = Varchar(length=200, default="")
    # HMAC needs the secret itself, so it is encrypted with SECRET_KEY rather than hashed.
    secret_encrypted = Text()
    # The secret before the last rotation, still accepted until `previous_valid_until`.
    previous_secret_encrypted = Text(default="")
    previous_valid_until = Timestamptz(null=True, default=None)
    callback_url = Text(default="")
    enabled = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    rotated_at = Timestamptz(null=True, default=None)
    deleted_at = Timestamptz(null=True, default=None)


class WebhookDelivery(Table, tablename="webhook_deliveries"):
    """One request to a hook (`kind` intake) or one attempt to call its callback URL (`callback`)."""

    id = UUID(primary_key=True, default=UUID4())
    # Indexed with received_at by a raw-SQL migration (the log is read newest first per hook).
    webhook = ForeignKey(references=Webhook, on_delete=OnDelete.cascade, null=False)
    run = ForeignKey(references=Run, on_delete=OnDelete.set_null, null=True)
    kind = Varchar(length=16, default="intake")
    # intake: accepted, duplicate, rejected; callback: delivered, retrying, failed, refused.
    outcome = Varchar(length=16, default="")
    reason = Text(default="")
    idempotency_key = Varchar(length=200, null=True, default=None)
    # The answer we gave (intake) or the callback receiver gave (0: no answer).
    status_code = Integer(default=0)
    # The sender's address (intake) or the receiver's address we connected to (callback).
    address = Varchar(length=64, default="")
    attempt = Integer(default=1)
    latency_ms = Integer(default=0)
    received_at = Timestamptz(default=TimestamptzNow())


ALL_TABLES: tuple[type[Table], ...] = (
    User,
    ApiToken,
    Workflow,
    Membership,
    DocumentUpdate,
    WorkflowVersion,
    Run,
    NodeRun,
    Media,
    MediaLink,
    Webhook,
    WebhookDelivery,
)


def bind_engine(engine: Engine[Any]) -> None:
    """Point every table at `engine` instead of the one `piccolo_conf` would build.

    The app builds its engine from `Settings`; this keeps the environment out of it.
    """
    for table in ALL_TABLES:
        table._meta.db = engine
