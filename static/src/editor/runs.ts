// Runs as the editor sees them: the REST records, the live events of the workflow's socket, and
// the pure rules that fold events into a run by their per-run `seq` (ARCHITECTURE.md, "Runs").
// A gap in `seq`, or an event of a run this client never saw start, means a frame was missed:
// the caller re-reads the run over REST. A read says which `seq` it reflects (with the text its
// running nodes streamed up to there), so the events after it continue it exactly.

export type RunStatus = 'queued' | 'running' | 'success' | 'failed' | 'partial' | 'cancelled'
export type NodeStatus = 'pending' | 'running' | 'success' | 'cached' | 'failed' | 'skipped' | 'cancelled'

export const ACTIVE: ReadonlySet<RunStatus> = new Set(['queued', 'running'])

export interface RunSummary {
  id: string
  workflow_id: string
  status: RunStatus
  scope: string
  trigger: string
  actor: { id: string; name: string } | null
  /** The webhook that started the run (trigger `webhook`). */
  hook?: { id: string; name: string } | null
  node_ids: string[]
  error: string
  created_at: string
  started_at: string | null
  finished_at: string | null
  duration_ms: number | null
}

export interface NodeRunOut {
  node_id: string
  node_type: string
  status: NodeStatus
  attempt: number
  inputs: Record<string, unknown>
  outputs: Record<string, unknown>
  error: string
  error_detail: string
  usage: Record<string, unknown>
  started_at: string | null
  finished_at: string | null
  duration_ms: number | null
  /** The text a running node has streamed so far. */
  streamed?: string
}

export interface RunDetail extends RunSummary {
  /** The last event of the run this record reflects. */
  seq?: number
  inputs: Record<string, string>
  nodes: NodeRunOut[]
}

export type RunEvent =
  | { type: 'run_started'; run_id: string; seq: number; workflow_id: string; scope: string; trigger: string; node_ids: string[]; at: string }
  | { type: 'node_started'; run_id: string; seq: number; node_id: string; node_type: string; attempt: number; at: string }
  | { type: 'node_progress'; run_id: string; seq: number; node_id: string; delta: string; data?: Record<string, unknown> | null }
  | {
      type: 'node_finished'
      run_id: string
      seq: number
      node_id: string
      node_type: string
      status: NodeStatus
      outputs: Record<string, unknown>
      error: string
      error_detail: string
      duration_ms: number | null
      at: string
    }
  | { type: 'run_finished'; run_id: string; seq: number; status: RunStatus; error: string; duration_ms: number | null; at: string }

const EVENT_TYPES = new Set(['run_started', 'node_started', 'node_progress', 'node_finished', 'run_finished'])

/** The run events of a text frame: one event, or a JSON array of them in order. Anything else
 * in it (a type this client does not know, a malformed entry) is left out. */
export function parseEvents(data: string): RunEvent[] {
  let value: unknown
  try {
    value = JSON.parse(data)
  } catch {
    return []
  }
  return (Array.isArray(value) ? value : [value]).filter(isEvent)
}

function isEvent(value: unknown): value is RunEvent {
  if (!value || typeof value !== 'object') return false
  const record = value as Record<string, unknown>
  return EVENT_TYPES.has(String(record.type)) && typeof record.run_id === 'string' && typeof record.seq === 'number'
}

/** What a node shows of one run. `text` is the answer streamed so far. */
export interface NodeView {
  status: NodeStatus
  text: string
  outputs: Record<string, unknown>
  error: string
  errorDetail: string
  durationMs: number | null
  startedAt: string | null
}

/** One run as this client knows it. `seq` is the last event applied (or that a REST read
 * reflects); null when it is not known (a read from a server that does not say). */
export interface RunView {
  id: string
  status: RunStatus
  scope: string
  trigger: string
  nodeIds: string[]
  startedAt: string | null
  durationMs: number | null
  error: string
  seq: number | null
  nodes: Record<string, NodeView>
}

const PENDING: NodeView = { status: 'pending', text: '', outputs: {}, error: '', errorDetail: '', durationMs: null, startedAt: null }

export function fromDetail(detail: RunDetail): RunView {
  const nodes: Record<string, NodeView> = {}
  for (const node of detail.nodes) {
    nodes[node.node_id] = {
      status: node.status,
      text: node.status === 'running' ? (node.streamed ?? '') : '',
      outputs: node.outputs,
      error: node.error,
      errorDetail: node.error_detail,
      durationMs: node.duration_ms,
      startedAt: node.started_at,
    }
  }
  for (const id of detail.node_ids) nodes[id] ??= PENDING
  return {
    id: detail.id,
    status: detail.status,
    scope: detail.scope,
    trigger: detail.trigger,
    nodeIds: detail.node_ids,
    startedAt: detail.started_at ?? detail.created_at,
    durationMs: detail.duration_ms,
    error: detail.error,
    seq: typeof detail.seq === 'number' ? detail.seq : null,
    nodes,
  }
}

/**
 * A run read over REST, continued with the events this client received after the `seq` the read
 * reflects (in any order; earlier ones are in the read already). `gap`: some event between the
 * read and the ones received is missing, so the run should be read again.
 */
export function continueFrom(detail: RunDetail, received: readonly RunEvent[]): Applied {
  let run = fromDetail(detail)
  let gap = false
  if (run.seq === null) return { run, gap }
  const after = received.filter((e) => e.run_id === detail.id && e.seq > run.seq!).sort((a, b) => a.seq - b.seq)
  for (const event of after) {
    const applied = applyEvent(run, event)
    if (!applied) continue
    run = applied.run
    gap ||= applied.gap
  }
  return { run, gap }
}

export type Applied = { run: RunView; gap: boolean }

/**
 * Fold one event into `run` (null: not known yet). Events at or below the last applied `seq` are
 * ignored; a jump past the next `seq` is applied (statuses are idempotent) and reported as a gap.
 * With no known `seq` (null) the next event sets the count. A streamed delta of a node that is
 * not running is dropped, so a token never shows twice in a finished answer.
 */
export function applyEvent(run: RunView | null, event: RunEvent): Applied | null {
  if (!run || run.id !== event.run_id) {
    if (event.type !== 'run_started') return null
    return { run: startRun(event), gap: event.seq !== 1 }
  }
  if (run.seq !== null && event.seq <= run.seq) return { run, gap: false }
  const gap = run.seq !== null && event.seq !== run.seq + 1
  const next: RunView = { ...run, seq: event.seq }
  switch (event.type) {
    case 'run_started':
      next.status = 'running'
      break
    case 'node_started':
      next.status = 'running'
      next.nodes = { ...run.nodes, [event.node_id]: { ...PENDING, status: 'running', startedAt: event.at } }
      break
    case 'node_progress': {
      const node = run.nodes[event.node_id]
      if (node?.status === 'running' && event.delta) next.nodes = { ...run.nodes, [event.node_id]: { ...node, text: node.text + event.delta } }
      break
    }
    case 'node_finished':
      next.nodes = {
        ...run.nodes,
        [event.node_id]: {
          status: event.status,
          text: '',
          outputs: event.outputs,
          error: event.error,
          errorDetail: event.error_detail,
          durationMs: event.duration_ms,
          startedAt: run.nodes[event.node_id]?.startedAt ?? null,
        },
      }
      break
    case 'run_finished':
      next.status = event.status
      next.durationMs = event.duration_ms
      next.error = event.error
      break
  }
  return { run: next, gap }
}

function startRun(event: Extract<RunEvent, { type: 'run_started' }>): RunView {
  const nodes: Record<string, NodeView> = {}
  for (const id of event.node_ids) nodes[id] = PENDING
  return {
    id: event.run_id,
    status: 'running',
    scope: event.scope,
    trigger: event.trigger,
    nodeIds: event.node_ids,
    startedAt: event.at,
    durationMs: null,
    error: '',
    seq: event.seq,
    nodes,
  }
}

/** A run's summary updated by the events of its view (for the history list). */
export function summaryOf(view: RunView, known: RunSummary | undefined, workflowId: string): RunSummary {
  return {
    id: view.id,
    workflow_id: workflowId,
    status: view.status,
    scope: view.scope,
    trigger: view.trigger,
    actor: known?.actor ?? null,
    hook: known?.hook ?? null,
    node_ids: view.nodeIds,
    error: view.error,
    created_at: known?.created_at ?? view.startedAt ?? new Date().toISOString(),
    started_at: view.startedAt,
    finished_at: known?.finished_at ?? null,
    duration_ms: view.durationMs,
  }
}

/** Milliseconds as people read them: 840 ms, 3.2 s, 2 min 5 s. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return ''
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`
  const minutes = Math.floor(ms / 60_000)
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`
}

/** A media reference (`{media_id, content_type}`) as the run detail shows it. */
export interface MediaRef {
  id: string
  video: boolean
}

export function mediaRef(value: unknown): MediaRef | null {
  if (!value || typeof value !== 'object') return null
  const { media_id: id, content_type: type } = value as { media_id?: unknown; content_type?: unknown }
  if (typeof id !== 'string') return null
  return { id, video: typeof type === 'string' && type.startsWith('video/') }
}

/** A media output (`{media_id}`) of a node, if it has one. */
export function mediaOf(outputs: Record<string, unknown>): string | null {
  for (const value of Object.values(outputs)) {
    if (value && typeof value === 'object' && typeof (value as { media_id?: unknown }).media_id === 'string') return (value as { media_id: string }).media_id
  }
  return null
}

/** The text output of a node, if it has one. */
export function textOf(outputs: Record<string, unknown>): string | null {
  for (const value of Object.values(outputs)) if (typeof value === 'string') return value
  return null
}
