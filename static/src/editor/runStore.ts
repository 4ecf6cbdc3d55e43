// The runs of the open workflow, shared by the canvas, the toolbar and the history panel.
// Socket events are queued and folded in once per animation frame, and the nodes they change are
// shown a few per frame (pacer.ts): a burst of a hundred nodes starting is drawn over a few short
// frames, and a token streamed meanwhile is not held up behind it. Each node reads only its own
// view.
// The events of the live run are kept, so that a REST read of it (after a gap or a reconnect,
// or of a run first seen mid-way) continues with whatever arrived while the read was under way.

import { createContext, useContext, useSyncExternalStore } from 'react'

import { api, type Page } from '../api'
import { Pacer } from './pacer'
import { ACTIVE, applyEvent, continueFrom, fromDetail, parseEvents, summaryOf, type NodeView, type RunDetail, type RunEvent, type RunSummary, type RunView } from './runs'

const PAGE_SIZE = 20
/** Past this many running nodes their glows hold still: a hundred pulsing layers cost every frame. */
const MANY_RUNNING = 20
/** Changed nodes drawn per animation frame (see pacer.ts). */
const NODES_PER_FRAME = 8
/** How long a run this editor asked for counts as under way before its first event arrives. */
const EXPECT_MS = 10_000
/** How long a run counts as under way for the canvas after it ends: its last nodes' ends are
 * drawn before the nodes' layers go (taking them away rasters the whole canvas again). */
const LINGER_MS = 1500
/** Events kept per run for continuing a REST read; far more than a run sends while one is read. */
const KEPT_EVENTS = 20_000

export class RunStore {
  /** The newest run this client knows of: what the canvas shows while live. */
  live: RunView | null = null
  /** A past run shown on the canvas instead of the live one ("view this run"). */
  pinned: RunView | null = null
  /** Node views of earlier runs, for nodes the newest run did not include. */
  private earlier: Record<string, NodeView> = {}
  /** The history list, newest first, and where its next page starts. */
  history: RunSummary[] = []
  cursor: string | null = null
  historyLoaded = false
  /** Bumped on every change of `history`, `live` or `pinned` (for whole-list subscribers). */
  version = 0
  /** How many nodes the shown run (live or pinned) has running, shown yet or not (see `changed`). */
  running = 0

  /** What the canvas shows of the live run (and of earlier runs), paced. */
  private shown = new Pacer<NodeView>(NODES_PER_FRAME, urgency)
  /** Whether the live run was under way at the last change. */
  private underWay = false
  /** The canvas counts a run as under way that is not (yet, or any more): one this editor asked
   * for and has not seen start (see `expect`), or one that ended less than LINGER_MS ago. */
  private held = false
  private holdTimer = 0
  private queue: RunEvent[] = []
  private frame = 0
  private listeners = new Set<() => void>()
  /** Runs being read over REST; true: read again when this read ends (something was missed). */
  private reloading = new Map<string, boolean>()
  /** Events received of the live run and of runs being read, by run id. */
  private received = new Map<string, RunEvent[]>()
  private closed = false

  constructor(readonly workflowId: string) {}

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** `all`: show every node's change now (a REST read is one change, not a stream). */
  private changed(all = false): void {
    this.shown.step({ ...this.earlier, ...this.live?.nodes }, all)
    // Counted in the run itself, not in what is shown yet: the glows hold still from the burst's
    // first frame on, rather than every node repainted when the count crosses the line mid-way.
    const run = this.pinned ?? this.live
    this.running = run ? Object.values(run.nodes).filter((n) => n.status === 'running').length : 0
    const underWay = this.live !== null && ACTIVE.has(this.live.status)
    if (this.underWay && !underWay) this.hold(LINGER_MS)
    this.underWay = underWay
    this.version++
    for (const listener of this.listeners) listener()
    if (this.shown.backlog && !this.frame && !this.closed) this.frame = requestAnimationFrame(this.flush)
  }

  /** Whether more nodes run than are worth pulsing one by one (see editor.css, `data-busy`). */
  get busy(): boolean {
    return this.running > MANY_RUNNING
  }

  /** Whether the newest run is under way (queued or running) or ended less than LINGER_MS ago,
   * or one this editor asked for is about to be: the canvas makes its nodes' layers while the
   * request and the worker's start are under way, rather than in the frames where a hundred
   * nodes start, and keeps them while the run's last changes are drawn. */
  get active(): boolean {
    return !this.pinned && (this.held || this.underWay)
  }

  /** This editor asks for a run. Answers what to call once the request is answered (`false`: it
   * failed); until then and until the run's first event (at most EXPECT_MS), it counts as under way. */
  expect(): (started: boolean) => void {
    this.hold(EXPECT_MS)
    this.changed()
    return (started) => {
      if (!started) this.release()
    }
  }

  private hold(ms: number): void {
    this.held = true
    clearTimeout(this.holdTimer)
    this.holdTimer = window.setTimeout(() => this.release(), ms)
  }

  /** `redraw`: tell the canvas now (not when the caller is about to). */
  private release(redraw = true): void {
    clearTimeout(this.holdTimer)
    if (!this.held || this.closed) return
    this.held = false
    if (redraw) this.changed()
  }

  /** What node `id` shows now. */
  nodeView(id: string): NodeView | undefined {
    return this.pinned ? this.pinned.nodes[id] : this.shown.get(id)
  }

  /** A text frame of the socket. */
  receive(data: string): void {
    const events = parseEvents(data)
    if (!events.length || this.closed) return
    this.queue.push(...events)
    if (!this.frame) this.frame = requestAnimationFrame(this.flush)
  }

  flush = (): void => {
    cancelAnimationFrame(this.frame)
    this.frame = 0
    const events = this.queue
    this.queue = []
    if (!events.length && !this.shown.backlog) return
    for (const event of events) this.apply(event)
    this.changed()
  }

  private apply(event: RunEvent): void {
    if (event.type === 'run_started') this.release(false) // under way now: the flush tells the canvas
    this.keep(event)
    const current = this.live && this.live.id === event.run_id ? this.live : null
    if (!current && event.type !== 'run_started') {
      // A run this client did not see start (or an older one): read it. Events arriving while
      // it is read are kept and continue the read (`keep`), so they ask for no second read.
      if (!this.reloading.has(event.run_id)) void this.reload(event.run_id)
      return
    }
    const applied = applyEvent(current, event)
    if (!applied) return
    if (applied.run !== current) {
      if (!current && this.live) this.retire(this.live)
      this.live = applied.run
      this.touchHistory(applied.run)
    }
    if (applied.gap) void this.reload(event.run_id)
    else if (event.type === 'run_finished' && !this.reloading.has(event.run_id)) this.received.delete(event.run_id)
  }

  private keep(event: RunEvent): void {
    if (event.run_id !== this.live?.id && event.type !== 'run_started' && !this.reloading.has(event.run_id)) {
      // Read over REST next (see apply): what arrives meanwhile continues that read.
      this.received.set(event.run_id, [])
    }
    const list = this.received.get(event.run_id) ?? []
    list.push(event)
    if (list.length > KEPT_EVENTS) list.splice(0, list.length - KEPT_EVENTS / 2)
    this.received.set(event.run_id, list)
  }

  /** Keep the finished run's nodes for the nodes a new run does not touch. */
  private retire(run: RunView): void {
    this.earlier = { ...this.earlier, ...run.nodes }
    if (!this.reloading.has(run.id)) this.received.delete(run.id)
  }

  private touchHistory(run: RunView): void {
    const index = this.history.findIndex((r) => r.id === run.id)
    const summary = summaryOf(run, this.history[index], this.workflowId)
    if (index >= 0) this.history = this.history.map((r, i) => (i === index ? summary : r))
    else {
      this.history = [summary, ...this.history]
      // The event does not say who started the run: the list's first page does.
      void this.refreshList()
    }
  }

  /**
   * Re-read a run (after a gap, a reconnect, or an event of a run never seen start). The read
   * says which event it reflects; the events received after that one are applied on top, so an
   * event that arrived while the read was under way is not undone by it.
   */
  async reload(runId: string): Promise<void> {
    if (this.reloading.has(runId)) {
      this.reloading.set(runId, true)
      return
    }
    this.reloading.set(runId, false)
    let again = false
    try {
      const detail = await api<RunDetail>('GET', `/api/runs/${runId}`)
      if (this.closed) return
      this.flush() // what arrived before the answer is in `received` now
      const { run: view, gap } = continueFrom(detail, this.received.get(runId) ?? [])
      again = gap
      if (!this.live || this.live.id === runId || (this.live.startedAt ?? '') <= (view.startedAt ?? '')) {
        if (this.live && this.live.id !== runId) this.retire(this.live)
        this.live = view
      }
      this.mergeSummaries([detail])
      this.changed(true)
    } catch {
      // The next event or reconnect tries again; the run may also have been deleted.
    } finally {
      again ||= this.reloading.get(runId) === true
      this.reloading.delete(runId)
      if (this.live?.id !== runId) this.received.delete(runId)
      if (again && !this.closed) void this.reload(runId)
    }
  }

  /** First load, and after every reconnect: the newest page, and the newest run read again
   * (a reconnect may have missed any of its events). */
  async refreshHead(): Promise<void> {
    const newest = await this.refreshList()
    if (newest && (!this.live || this.live.id !== newest.id || ACTIVE.has(this.live.status))) await this.reload(newest.id)
  }

  /** The first page of the history merged in; answers its newest run. */
  private async refreshList(): Promise<RunSummary | undefined> {
    try {
      const page = await api<Page<RunSummary>>('GET', `/api/workflows/${this.workflowId}/runs?limit=${PAGE_SIZE}`)
      if (this.closed) return undefined
      if (!this.historyLoaded) this.cursor = page.next_cursor
      this.historyLoaded = true
      this.mergeSummaries(page.items)
      this.changed()
      return page.items[0]
    } catch {
      // Shown as an empty list; the next reconnect retries.
      return undefined
    }
  }

  async loadMore(): Promise<void> {
    if (!this.cursor) return
    const cursor = this.cursor
    this.cursor = null
    try {
      const page = await api<Page<RunSummary>>('GET', `/api/workflows/${this.workflowId}/runs?limit=${PAGE_SIZE}&cursor=${encodeURIComponent(cursor)}`)
      this.cursor = page.next_cursor
      this.mergeSummaries(page.items)
    } catch {
      this.cursor = cursor
    }
    this.changed()
  }

  private mergeSummaries(items: RunSummary[]): void {
    const byId = new Map(this.history.map((r) => [r.id, r]))
    for (const item of items) {
      const old = byId.get(item.id)
      // A live view is newer than a page read while the run went on.
      const live = this.live?.id === item.id && !ACTIVE.has(this.live.status) && ACTIVE.has(item.status)
      byId.set(item.id, live && old ? { ...item, status: old.status, duration_ms: old.duration_ms } : { ...(old ?? {}), ...item })
    }
    this.history = [...byId.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0))
  }

  pin(detail: RunDetail | null): void {
    this.pinned = detail ? fromDetail(detail) : null
    this.changed()
  }

  close(): void {
    this.closed = true
    clearTimeout(this.holdTimer)
    cancelAnimationFrame(this.frame)
    this.listeners.clear()
  }
}

type Shown = Pick<NodeView, 'text'> & { status: string }

/** The pacer's order (pacer.ts): the next tokens of an answer already shown running, then a
 * node's end, then the rest (a node starting or showing its first text, the nodes of a new run
 * turning pending) — a burst's first texts are no more urgent than its starts. */
export function urgency(shown: Shown | undefined, next: Shown | undefined): number {
  if (shown?.status === 'running' && next?.status === 'running' && next.text !== shown.text) return 0
  return next && (next.status === 'pending' || next.status === 'running') ? 2 : 1
}

export const RunsContext = createContext<RunStore | null>(null)

export function useRunStore(): RunStore {
  const store = useContext(RunsContext)
  if (!store) throw new Error('useRunStore outside the editor')
  return store
}

/** One node's view of the shown run; re-renders only when that view changes. */
export function useNodeRun(id: string): NodeView | undefined {
  const store = useRunStore()
  return useSyncExternalStore(store.subscribe, () => store.nodeView(id))
}

/** Only the status of one node in the shown run (what the node's frame and class depend on). */
export function useNodeRunStatus(id: string): NodeView['status'] | undefined {
  const store = useRunStore()
  return useSyncExternalStore(store.subscribe, () => store.nodeView(id)?.status)
}

/** Re-renders on every change of the store (toolbar, history). */
export function useRunsVersion(): number {
  const store = useRunStore()
  return useSyncExternalStore(store.subscribe, () => store.version)
}
