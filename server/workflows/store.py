"""The workflow document store: snapshot in `workflows.snapshot`, update log in `document_updates`.

Both the collaboration hub and the REST endpoints read documents through it.
"""

from __future__ import annotations

from uuid import UUID

from piccolo.querystring import QueryString

from collab.batch import Batch
from collab.store import DocumentGone
from server.database import Statement
from server.tables import DocumentUpdate, Workflow, WorkflowVersion
from server.workflows.codec import DocumentCodec


def _uuid(doc_id: str) -> UUID:
    try:
        return UUID(doc_id)
    except ValueError:
        raise DocumentGone(doc_id) from None


# Several documents in one statement (rooms that open at once are loaded together), each one's
# snapshot and the log rows after it read as of one moment: read apart, a compaction in between
# would fold and delete rows the first read did not cover.
_LOAD = """
SELECT w.id AS doc, w.snapshot AS data, 0::bigint AS id FROM workflows w
WHERE w.id = ANY({}::uuid[]) AND w.deleted_at IS NULL
UNION ALL
SELECT u.workflow, u.data, u.id FROM document_updates u JOIN workflows w ON w.id = u.workflow
WHERE w.id = ANY({}::uuid[]) AND w.deleted_at IS NULL AND u.id > w.snapshot_seq
ORDER BY doc, id
"""


# As Piccolo sends it: prepared on every connection of the web's pool when it opens
# (server/database.py `_warmed`), for the rooms that open right after a start.
LOAD_STATEMENT: Statement = QueryString(_LOAD, [], []).compile_string()


# A workflow's `updated_at` (the list's "last edited", and its order) moves at most this often
# while it is edited, rather than its row and four indexes being rewritten at every flush
# (bench/README.md, "December 8, later": what a flush costs Postgres).
TOUCH_EVERY = 5.0

# The flush of every open room of a process, as one statement (so one round trip and one commit,
# on the event loop that also fans updates out): the log rows of the documents that still exist,
# and `updated_at` moved for those not moved in the last TOUCH_EVERY seconds. Returns the
# documents that exist; a document deleted meanwhile gets nothing. The documents' rows are locked
# before any log row takes its id, as a compaction locks them (`compact`): a compaction never
# folds past a log row that is not committed yet, whoever appends it.
_APPEND = """
WITH live AS (
    SELECT id, updated_at FROM workflows WHERE id = ANY({}::uuid[]) AND deleted_at IS NULL
    FOR NO KEY UPDATE
), touched AS (
    UPDATE workflows SET updated_at = now() FROM live
    WHERE workflows.id = live.id AND live.updated_at < now() - make_interval(secs => {}::float8)
), stored AS (
    INSERT INTO document_updates (workflow, data, author, created_at)
    SELECT t.w, t.d, t.a, now() FROM unnest({}::uuid[], {}::bytea[], {}::uuid[]) WITH ORDINALITY AS t(w, d, a, n)
    WHERE t.w IN (SELECT id FROM live) ORDER BY t.n
)
SELECT id FROM live
"""


class PostgresDocumentStore:
    """Snapshot in `workflows.snapshot`, log in `document_updates`.

    Compaction and versions decode documents through `codec`, off the event loop when large.
    """

    def __init__(self, codec: DocumentCodec | None = None) -> None:
        self.codec = codec or DocumentCodec()
        self._loading: Batch[UUID, list[bytes]] = Batch(self._load)

    async def load(self, doc_id: str) -> list[bytes]:
        parts = await self._loading.ask(_uuid(doc_id))
        if not parts:
            raise DocumentGone(doc_id)
        return parts

    async def _load(self, workflow_ids: list[UUID]) -> list[list[bytes]]:
        found: dict[UUID, list[bytes]] = {}
        for row in await Workflow.raw(_LOAD, workflow_ids, workflow_ids):
            found.setdefault(row["doc"], []).append(row["data"])
        return [found.get(workflow_id, []) for workflow_id in workflow_ids]

    async def append_many(self, batches: dict[str, list[tuple[bytes, str | None]]]) -> set[str]:
        ids = {}
        for doc_id in batches:
            try:
                ids[doc_id] = _uuid(doc_id)
            except DocumentGone:
                pass
        if not ids:
            return set(batches)
        workflows, data, authors = [], [], []
        for doc_id, workflow in ids.items():
            for update, author in batches[doc_id]:
                workflows.append(workflow)
                data.append(update)
                authors.append(UUID(author) if author else None)
        live = await Workflow.raw(_APPEND, list(ids.values()), TOUCH_EVERY, workflows, data, authors)
        alive = {row["id"] for row in live}
        return {doc_id for doc_id in batches if ids.get(doc_id) not in alive}

    async def compact(self, doc_id: str) -> None:
        workflow_id = _uuid(doc_id)
        async with Workflow._meta.db.transaction():
            rows = await Workflow.raw(
                "SELECT snapshot, snapshot_seq FROM workflows WHERE id = {} FOR UPDATE", workflow_id
            )
            if not rows:
                raise DocumentGone(doc_id)
            updates = await (
                DocumentUpdate.select(DocumentUpdate.id, DocumentUpdate.data)
                .where((DocumentUpdate.workflow == workflow_id) & (DocumentUpdate.id > rows[0]["snapshot_seq"]))
                .order_by(DocumentUpdate.id)
            )
            if not updates:
                return
            compacted = await self.codec.snapshot([rows[0]["snapshot"], *(u["data"] for u in updates)])
            last = updates[-1]["id"]
            await Workflow.update(
                {Workflow.snapshot: compacted.state, Workflow.snapshot_seq: last, Workflow.name: compacted.name}
            ).where(Workflow.id == workflow_id)
            await DocumentUpdate.delete().where((DocumentUpdate.workflow == workflow_id) & (DocumentUpdate.id <= last))
            if compacted.rest is not None:  # edits waiting for predecessors another process has not stored yet
                await DocumentUpdate.insert(DocumentUpdate(workflow=workflow_id, data=compacted.rest))

    async def save_version(self, doc_id: str, state: bytes, name: str, author: str | None) -> None:
        counts = await self.codec.snapshot([state])
        version = WorkflowVersion(workflow=_uuid(doc_id), name=name, automatic=not name, snapshot=state, author=author)
        version.nodes, version.edges = counts.nodes, counts.edges
        await WorkflowVersion.insert(version)
