"""Every SQL statement of runs, in one place; `server.runs.store.PostgresRunStore` runs them.

Raw SQL on asyncpg rather than Piccolo queries, on purpose: this is the run hot path (each state
change is one conditional UPDATE, several of them one statement with CTEs) and keyset pagination,
neither of which the ORM expresses. The tables themselves are declared in Piccolo
(`server/tables.py`). JSON travels as text and is decoded with msgspec.
"""

# --- web: record, read, cancel -------------------------------------------------------------

RECORD_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))"

# Runs a webhook started neither count toward their actor's cap nor are held to it.
ACTIVE_RUNS = "SELECT count(*) FROM runs WHERE actor = $1 AND status IN ('queued', 'running') AND hook IS NULL"

# A run and its node runs in one statement (one round trip, atomic without a transaction).
INSERT_RUN = """
WITH run AS (
    INSERT INTO runs (
        id, workflow, actor, trigger, scope, node_ids, inputs, graph, status, error, created_at, event_seq, hook
    ) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, 'queued', '', now(), 0, $9)
    RETURNING id
)
INSERT INTO node_runs (id, run, node_id, node_type, status, cache_key, inputs, outputs, waits_for, finished_at)
SELECT n.id, run.id, n.node_id, n.node_type, n.status, n.cache_key, n.inputs::jsonb, n.outputs::jsonb, n.waits_for,
       CASE WHEN n.status = 'cached' THEN now() END
FROM run, unnest($10::uuid[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::int[])
    AS n(id, node_id, node_type, status, cache_key, inputs, outputs, waits_for)
"""

LATEST_OUTPUTS = """
SELECT DISTINCT ON (nr.node_id) nr.node_id, nr.cache_key, nr.outputs::text AS outputs
FROM node_runs nr JOIN runs r ON r.id = nr.run
WHERE r.workflow = $1 AND nr.node_id = ANY($2::text[]) AND nr.status = 'success'
ORDER BY nr.node_id, nr.finished_at DESC
"""

WORKFLOW_OF = """
SELECT r.workflow FROM runs r JOIN workflows w ON w.id = r.workflow WHERE r.id = $1 AND w.deleted_at IS NULL
"""

_SUMMARY_COLUMNS = """r.id, r.workflow, r.status, r.scope, r.trigger, r.node_ids::text AS node_ids, r.error,
    r.created_at, r.started_at, r.finished_at, u.id AS actor_id, u.name AS actor_name, r.hook, h.name AS hook_name"""
_SUMMARY_JOINS = "LEFT JOIN users u ON u.id = r.actor LEFT JOIN webhooks h ON h.id = r.hook"

# Keyset pagination, newest first: $3/$4 are the (created_at, id) of the previous page's last run.
FIRST_SUMMARIES = f"""
SELECT {_SUMMARY_COLUMNS} FROM runs r {_SUMMARY_JOINS}
WHERE r.workflow = $1 ORDER BY r.created_at DESC, r.id DESC LIMIT $2
"""

NEXT_SUMMARIES = f"""
SELECT {_SUMMARY_COLUMNS} FROM runs r {_SUMMARY_JOINS}
WHERE r.workflow = $1 AND (r.created_at, r.id) < ($3, $4) ORDER BY r.created_at DESC, r.id DESC LIMIT $2
"""

RUN = f"""
SELECT {_SUMMARY_COLUMNS}, r.inputs::text AS inputs, r.graph::text AS graph
FROM runs r {_SUMMARY_JOINS} WHERE r.id = $1
"""

NODE_RUNS = """
SELECT node_id, node_type, status, attempt, inputs::text AS inputs, outputs::text AS outputs, error, error_detail,
       usage::text AS usage, started_at, finished_at, duration_ms
FROM node_runs WHERE run = $1 ORDER BY node_id
"""

REQUEST_CANCEL = """
UPDATE runs SET cancel_requested_at = coalesce(cancel_requested_at, now())
WHERE id = $1 AND status IN ('queued', 'running') RETURNING workflow
"""

RUN_STATUS = "SELECT status FROM runs WHERE id = $1"

CANCEL_PENDING = """
UPDATE node_runs SET status = 'cancelled', finished_at = now(), error = 'Cancelled before it started.'
WHERE run = $1 AND status = 'pending' RETURNING node_id, node_type
"""

# --- workers: the engine's RunStore ----------------------------------------------------------

SNAPSHOT = """
SELECT workflow, graph::text AS graph, inputs::text AS inputs, scope, trigger,
    ARRAY(SELECT node_id FROM node_runs WHERE run = $1 ORDER BY node_id) AS members
FROM runs WHERE id = $1
"""

# Starts a queued run and reads its cached and ready nodes in the same statement: no row when the
# run was not queued; else one row per such node (one row of NULLs when there is none). The
# reading part sees the node rows as they were, which the update of the run does not change.
BEGIN = """
WITH started AS (
    UPDATE runs SET status = 'running', started_at = now(), heartbeat_at = now()
    WHERE id = $1 AND status = 'queued' AND cancel_requested_at IS NULL RETURNING id
)
SELECT n.node_id, n.node_type, n.status, CASE WHEN n.status = 'cached' THEN n.outputs::text END AS outputs
FROM started s
LEFT JOIN node_runs n ON n.run = s.id AND (n.status = 'cached' OR (n.status = 'pending' AND n.waits_for = 0))
ORDER BY n.node_id
"""

READY = """
SELECT nr.node_id FROM node_runs nr JOIN runs r ON r.id = nr.run
WHERE nr.run = $1 AND r.status = 'running' AND nr.status = 'pending' AND nr.waits_for = 0
ORDER BY nr.node_id
"""

CLAIM = """
UPDATE node_runs SET status = 'running', worker = $3, attempt = attempt + 1, started_at = now(),
    lease_until = now() + make_interval(secs => $4)
WHERE id IN (
    SELECT id FROM node_runs
    WHERE run = $1 AND node_id = ANY($2::text[]) AND status = 'pending' AND waits_for = 0
      AND EXISTS (SELECT 1 FROM runs WHERE id = $1 AND status = 'running' AND cancel_requested_at IS NULL)
    ORDER BY node_id FOR UPDATE SKIP LOCKED
) RETURNING node_id, attempt, started_at
"""

RELEASE = """
UPDATE node_runs SET status = 'pending', worker = '', attempt = attempt - 1, lease_until = NULL
WHERE run = $1 AND node_id = $2 AND status = 'running' AND worker = $3 RETURNING 1
"""

OUTPUTS = """
SELECT node_id, outputs::text AS outputs FROM node_runs
WHERE run = $1 AND node_id = ANY($2::text[]) AND status IN ('success', 'cached')
"""

RENEW_LEASES = """
UPDATE node_runs nr SET lease_until = now() + make_interval(secs => $2)
FROM unnest($3::uuid[], $4::text[]) AS h(run, node_id)
WHERE nr.run = h.run AND nr.node_id = h.node_id AND nr.worker = $1 AND nr.status = 'running'
"""

HEARTBEAT = """
UPDATE runs SET heartbeat_at = now() WHERE id = ANY($1::uuid[])
RETURNING id, cancel_requested_at IS NOT NULL AS cancelled
"""

FINALIZE = """
WITH counts AS (
    SELECT count(*) FILTER (WHERE status IN ('pending', 'running')) AS open,
           count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status = 'success') AS succeeded
    FROM node_runs WHERE run = $1
)
UPDATE runs r SET
    status = CASE
        WHEN c.cancelled > 0 THEN 'cancelled'
        WHEN c.failed > 0 AND c.succeeded > 0 THEN 'partial'
        WHEN c.failed > 0 THEN 'failed'
        ELSE 'success' END,
    finished_at = now()
FROM counts c
WHERE r.id = $1 AND r.status IN ('queued', 'running') AND c.open = 0
RETURNING r.status, r.error, (extract(epoch FROM r.finished_at - r.started_at) * 1000)::bigint AS duration_ms
"""

# One statement per finished node: record it, then (only if this worker still held it) count it
# into its successors or skip its pending descendants. Rows are locked in node id order so that
# workers finishing neighbouring nodes at once do not deadlock.
_FINISH_RECORD = """
WITH done AS (
    UPDATE node_runs SET status = $4, inputs = $5::jsonb, outputs = $6::jsonb, error = $7, error_detail = $8,
        cache_key = $9, finished_at = $10, duration_ms = $11, usage = $13::jsonb, worker = '', lease_until = NULL
    WHERE run = $1 AND node_id = $2 AND status = 'running' AND worker = $3
    RETURNING 1
), followers AS (
    SELECT id, node_id, waits_for FROM node_runs
    WHERE run = $1 AND node_id = ANY($12::text[]) AND status = 'pending' AND EXISTS (SELECT 1 FROM done)
    ORDER BY node_id FOR UPDATE
)"""

# The first successor that becomes ready is claimed for the finishing worker in the same
# statement (the next node of a chain then costs no separate claim).
FINISH_SUCCESS = (
    _FINISH_RECORD
    + """, chosen AS (
    SELECT id FROM followers
    WHERE waits_for = 1
      AND EXISTS (SELECT 1 FROM runs WHERE id = $1 AND status = 'running' AND cancel_requested_at IS NULL)
    ORDER BY node_id LIMIT 1
), counted AS (
    UPDATE node_runs n SET
        waits_for = n.waits_for - 1,
        status = CASE WHEN n.id IN (SELECT id FROM chosen) THEN 'running' ELSE n.status END,
        worker = CASE WHEN n.id IN (SELECT id FROM chosen) THEN $3 ELSE n.worker END,
        attempt = CASE WHEN n.id IN (SELECT id FROM chosen) THEN n.attempt + 1 ELSE n.attempt END,
        started_at = CASE WHEN n.id IN (SELECT id FROM chosen) THEN now() ELSE n.started_at END,
        lease_until = CASE WHEN n.id IN (SELECT id FROM chosen)
                           THEN now() + make_interval(secs => $14) ELSE n.lease_until END
    WHERE n.id IN (SELECT id FROM followers)
    RETURNING n.node_id, n.waits_for, n.status, n.attempt, n.started_at
)
SELECT EXISTS (SELECT 1 FROM done) AS held,
       coalesce((SELECT array_agg(node_id) FROM counted WHERE waits_for = 0 AND status = 'pending'), '{}') AS ready,
       (SELECT node_id FROM counted WHERE status = 'running') AS claimed,
       (SELECT attempt FROM counted WHERE status = 'running') AS claimed_attempt,
       (SELECT started_at FROM counted WHERE status = 'running') AS claimed_at,
       EXISTS (SELECT 1 FROM node_runs WHERE run = $1 AND status = 'pending') AS pending_left
"""
)

FINISH_FAILURE = (
    _FINISH_RECORD
    + """, skipped AS (
    UPDATE node_runs SET status = 'skipped', finished_at = now(), error = $14 WHERE id IN (SELECT id FROM followers)
    RETURNING node_id, node_type
)
SELECT EXISTS (SELECT 1 FROM done) AS held,
       coalesce((SELECT array_agg(node_id ORDER BY node_id) FROM skipped), '{}') AS skipped,
       coalesce((SELECT array_agg(node_type ORDER BY node_id) FROM skipped), '{}') AS skipped_types,
       EXISTS (SELECT 1 FROM node_runs WHERE run = $1 AND status = 'pending' AND id NOT IN (SELECT id FROM followers))
           AS pending_left
"""
)

RECLAIM = """
UPDATE node_runs nr SET
    status = CASE WHEN r.cancel_requested_at IS NULL THEN 'pending' ELSE 'cancelled' END,
    worker = '',
    lease_until = NULL,
    finished_at = CASE WHEN r.cancel_requested_at IS NULL THEN NULL ELSE now() END,
    error = CASE WHEN r.cancel_requested_at IS NULL THEN nr.error
                 ELSE 'The run was cancelled while this node''s worker was stopping.' END
FROM runs r
WHERE r.id = nr.run AND nr.status = 'running' AND nr.lease_until < now()
RETURNING nr.run, r.workflow, nr.node_id, nr.node_type, nr.status, nr.attempt
"""

STALLED = """
SELECT id AS run, NULL AS node_id, 0 AS attempt, 'start' AS kind FROM runs
WHERE status = 'queued' AND created_at < now() - make_interval(secs => $1)
  AND (heartbeat_at IS NULL OR heartbeat_at < now() - make_interval(secs => $1))
UNION ALL
SELECT nr.run, nr.node_id, nr.attempt, 'node' FROM node_runs nr JOIN runs r ON r.id = nr.run
WHERE r.status = 'running' AND r.cancel_requested_at IS NULL AND nr.status = 'pending' AND nr.waits_for = 0
  AND (r.heartbeat_at IS NULL OR r.heartbeat_at < now() - make_interval(secs => $1))
UNION ALL
SELECT r.id, NULL, 0, 'finalize' FROM runs r
WHERE r.status IN ('queued', 'running')
  AND (r.heartbeat_at IS NULL OR r.heartbeat_at < now() - make_interval(secs => $1))
  AND r.created_at < now() - make_interval(secs => $1)
  AND NOT EXISTS (SELECT 1 FROM node_runs nr WHERE nr.run = r.id AND nr.status IN ('pending', 'running'))
LIMIT 1000
"""
