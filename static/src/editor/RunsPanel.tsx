// Runs in front of people: the run toolbar of the header, the history in the right sidebar with
// each run's node-level detail, and the banner while a past run is shown on the canvas.

import { useReactFlow, useStore, useStoreApi } from '@xyflow/react'
import { useCallback, useEffect, useRef, useState } from 'react'

import { api, type GraphProblem as Problem } from '../api'
import { errorText, shortTime, useNotify } from '../ui'
import { mediaUrl, STATUS_TEXT } from './NodeRun'
import { ACTIVE, formatDuration, mediaRef, type MediaRef, type NodeRunOut, type RunDetail } from './runs'
import { useRunStore, useRunsVersion } from './runStore'

type Scope = 'full' | 'selected' | 'single'

/** Start a run; answers null when it started, or the reason it did not. */
export async function startRun(workflowId: string, scope: Scope, nodeIds: string[]): Promise<string | null> {
  try {
    await api('POST', `/api/workflows/${workflowId}/runs`, { scope, node_ids: nodeIds })
    return null
  } catch (e) {
    return errorText(e)
  }
}

export function useFocusNode(): (nodeId: string) => void {
  const flow = useReactFlow()
  const store = useStoreApi()
  return useCallback(
    (nodeId: string) => {
      const { resetSelectedElements, addSelectedNodes } = store.getState()
      resetSelectedElements()
      addSelectedNodes([nodeId])
      void flow.fitView({ nodes: [{ id: nodeId }], maxZoom: 1, duration: 300 })
    },
    [flow, store],
  )
}

const countSelected = (s: { nodes: { selected?: boolean }[] }) => s.nodes.reduce((n, node) => n + (node.selected ? 1 : 0), 0)

export function RunToolbar(props: { canEdit: boolean; blocked: string | null; problems: Problem[]; onRun: (scope: Scope, ids: string[]) => void }) {
  const store = useRunStore()
  useRunsVersion()
  const notify = useNotify()
  const selected = useStore(countSelected)
  const flow = useReactFlow()
  const focus = useFocusNode()
  const [showProblems, setShowProblems] = useState(false)
  const live = store.live
  const active = live && ACTIVE.has(live.status) ? live : null

  async function cancel() {
    if (!active) return
    try {
      await api('POST', `/api/runs/${active.id}/cancel`)
    } catch (e) {
      notify(errorText(e), { bad: true })
    }
  }

  const reason = props.blocked
  return (
    <div className="run-bar" aria-label="Runs">
      {reason && props.canEdit && props.problems.length > 0 && (
        <button className="ghost reason" aria-expanded={showProblems} onClick={() => setShowProblems(!showProblems)} title="Show the problems">
          {reason}
        </button>
      )}
      {showProblems && props.problems.length > 0 && (
        <div className="problems" role="dialog" aria-label="Problems">
          {props.problems.map((p, i) => (
            <button key={i} className="ghost" onClick={() => (p.node_id && focus(p.node_id), setShowProblems(false))}>
              {p.message}
            </button>
          ))}
        </div>
      )}
      {active ? (
        <button className="danger" onClick={cancel} disabled={!props.canEdit} title={props.canEdit ? undefined : 'Viewers cannot cancel runs'}>
          Cancel run
        </button>
      ) : null}
      <button
        disabled={reason !== null || selected === 0}
        title={reason ?? (selected === 0 ? 'Select nodes on the canvas first' : undefined)}
        onClick={() => props.onRun('selected', flow.getNodes().filter((n) => n.selected).map((n) => n.id))}
      >
        Run selected ({selected})
      </button>
      <button className="primary" disabled={reason !== null} title={reason ?? undefined} onClick={() => props.onRun('full', [])}>
        Run all
      </button>
    </div>
  )
}

/**
 * The workflow's validation problems: those the page opened with, re-read a moment after the
 * document changes (`onChange` says when).
 */
export function useProblems(workflowId: string, initial: Problem[], onChange: (listener: () => void) => () => void): Problem[] {
  const [problems, setProblems] = useState<Problem[]>(initial)
  useEffect(() => {
    let timer = 0
    let live = true
    const read = () => {
      api<{ problems: Problem[] }>('GET', `/api/workflows/${workflowId}`)
        .then((detail) => live && setProblems(detail.problems))
        .catch(() => {})
    }
    const stop = onChange(() => {
      window.clearTimeout(timer)
      timer = window.setTimeout(read, 800)
    })
    return () => {
      live = false
      window.clearTimeout(timer)
      stop()
    }
  }, [workflowId, onChange])
  return problems
}

const TRIGGER: Record<string, string> = { editor: 'Editor', api: 'API', webhook: 'Webhook' }
const SCOPE: Record<string, string> = { full: 'Full', selected: 'Selected', single: 'Single node' }

interface RunsHistoryProps {
  canRun: boolean
  labelOf: (id: string) => string
  onRun: (scope: Scope, ids: string[]) => void
  /** The run whose detail is shown (null: the list). */
  open: string | null
  setOpen: (runId: string | null) => void
}

export function RunsHistory({ open, setOpen, ...props }: RunsHistoryProps) {
  const store = useRunStore()
  useRunsVersion()
  const end = useRef<HTMLLIElement>(null)

  useEffect(() => {
    const el = end.current
    if (!el) return
    const observer = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && void store.loadMore())
    observer.observe(el)
    return () => observer.disconnect()
  }, [store, store.cursor])

  if (open) return <RunDetailView runId={open} onBack={() => setOpen(null)} {...props} />
  return (
    <section className="panel" aria-label="Runs" data-slot="runs">
      <h3>Runs</h3>
      {store.historyLoaded && store.history.length === 0 && <p className="muted small">No runs yet.</p>}
      <ul className="run-list" aria-label="Run history">
        {store.history.map((run) => (
          <li key={run.id} data-run={run.id} data-status={run.status}>
            <button className="run-item" onClick={() => setOpen(run.id)}>
              <span>{shortTime(run.created_at)}</span>
              <span className={`run-badge ${run.status}`}>{run.status}</span>
              <span className="meta">
                {run.hook ? `Webhook ${run.hook.name}` : (TRIGGER[run.trigger] ?? run.trigger)}
                {run.actor ? ` · ${run.actor.name}` : ''} · {SCOPE[run.scope] ?? run.scope}
                {run.duration_ms !== null ? ` · ${formatDuration(run.duration_ms)}` : ''}
              </span>
            </button>
          </li>
        ))}
        {store.cursor && (
          <li ref={end} className="muted small">
            Loading more…
          </li>
        )}
      </ul>
    </section>
  )
}

function RunDetailView(props: { runId: string; canRun: boolean; labelOf: (id: string) => string; onRun: (scope: Scope, ids: string[]) => void; onBack: () => void }) {
  const store = useRunStore()
  const version = useRunsVersion()
  const focus = useFocusNode()
  const [detail, setDetail] = useState<RunDetail | null>(null)
  const [error, setError] = useState<string | null>(null)
  const summary = store.history.find((r) => r.id === props.runId)
  const status = summary?.status

  // Re-read while the run goes on: once per change of its summary or node statuses.
  const liveNodes = store.live?.id === props.runId ? store.live.nodes : null
  const stamp = liveNodes ? Object.values(liveNodes).map((n) => n.status).join() : ''
  useEffect(() => {
    let live = true
    api<RunDetail>('GET', `/api/runs/${props.runId}`)
      .then((d) => live && setDetail(d))
      .catch((e) => live && setError(errorText(e)))
    return () => {
      live = false
    }
  }, [props.runId, status, stamp])

  const pinned = store.pinned?.id === props.runId
  return (
    <section className="panel run-detail" aria-label="Run detail" data-run={props.runId} data-version={version}>
      <div className="run-detail-head">
        <button className="ghost small" onClick={props.onBack}>
          ← Runs
        </button>
        {detail && <span className={`run-badge ${status ?? detail.status}`}>{status ?? detail.status}</span>}
        {detail && <span className="muted small">{formatDuration(detail.duration_ms)}</span>}
      </div>
      {error && <p className="error">{error}</p>}
      {detail && (
        <>
          <div className="run-detail-head">
            <button className="ghost small" onClick={() => store.pin(pinned ? null : detail)}>
              {pinned ? 'Back to live' : 'View this run'}
            </button>
            {props.canRun && (
              <button className="ghost small" onClick={() => props.onRun(detail.scope as Scope, detail.scope === 'full' ? [] : detail.node_ids)}>
                Re-run
              </button>
            )}
          </div>
          {detail.error && <p className="error small">{detail.error}</p>}
          {byStart(detail.nodes).map((node) => (
            <RunNode key={node.node_id} node={node} label={props.labelOf(node.node_id)} onFocus={() => focus(node.node_id)} />
          ))}
        </>
      )}
    </section>
  )
}

/** Nodes in the order they started; those that never started last. */
function byStart(nodes: NodeRunOut[]): NodeRunOut[] {
  const key = (n: NodeRunOut) => n.started_at ?? '\uffff'
  return [...nodes].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}

/** An image's thumbnail, or a video's first frame (the server makes thumbnails of images only). */
function MediaThumb({ media, alt, width }: { media: MediaRef; alt: string; width: number }) {
  if (media.video) {
    return <video className="thumb" src={`/api/media/${encodeURIComponent(media.id)}#t=0.1`} preload="metadata" muted playsInline aria-label={alt} title={alt} />
  }
  return <img className="thumb" src={mediaUrl(media.id, width)} alt={alt} />
}

function RunNode({ node, label, onFocus }: { node: NodeRunOut; label: string; onFocus: () => void }) {
  const outputs = Object.entries(node.outputs)
  const usage = node.usage as { total_tokens?: number; prompt_tokens?: number; completion_tokens?: number; cost?: number | null }
  return (
    <div className="run-node" data-node={node.node_id} data-status={node.status}>
      <div className="run-node-head">
        <button onClick={onFocus} title="Show on the canvas">
          {label}
        </button>
        <span className={`run-badge ${node.status}`}>{STATUS_TEXT[node.status]}</span>
      </div>
      <dl>
        {node.started_at && (
          <>
            <dt>Started</dt>
            <dd>
              {shortTime(node.started_at)}
              {node.duration_ms !== null ? ` · ${formatDuration(node.duration_ms)}` : ''}
            </dd>
          </>
        )}
        {Object.entries(node.inputs).map(([name, value]) => (
          <InputValue key={name} name={name} value={value} />
        ))}
        {usage.total_tokens !== undefined && (
          <>
            <dt>Tokens</dt>
            <dd>
              {usage.prompt_tokens ?? 0} in · {usage.completion_tokens ?? 0} out
              {typeof usage.cost === 'number' ? ` · $${usage.cost.toFixed(4)}` : ''}
            </dd>
          </>
        )}
      </dl>
      {node.error && (
        <p className="error" title={node.error_detail}>
          {node.error}
        </p>
      )}
      {outputs.length > 0 && <span className="muted small">Output</span>}
      {outputs.map(([name, value]) => {
        const media = mediaRef(value)
        return media ? <MediaThumb key={name} media={media} alt={`Output of ${label}`} width={256} /> : <pre key={name}>{show(value)}</pre>
      })}
    </div>
  )
}

function InputValue({ name, value }: { name: string; value: unknown }) {
  const items = Array.isArray(value) ? value : [value]
  const media = items.map(mediaRef)
  if (value === '' || value === null || (Array.isArray(value) && value.length === 0)) return null
  // An upload's file is its output (shown as a picture below); its stored id says nothing to a person.
  if (name === 'media_id') return null
  return (
    <>
      <dt>{name.replace(/_/g, ' ')}</dt>
      <dd>
        {media.every((m) => m) ? (
          <span className="thumbs">
            {media.map((m, i) => (
              <MediaThumb key={i} media={m!} alt={`${name.replace(/_/g, ' ')} ${i + 1}`} width={128} />
            ))}
          </span>
        ) : (
          <span className="muted">{show(value).slice(0, 200)}</span>
        )}
      </dd>
    </>
  )
}

export function ViewingBanner() {
  const store = useRunStore()
  useRunsVersion()
  const pinned = store.pinned
  if (!pinned) return null
  return (
    <div className="viewing-banner" role="status">
      Showing the run of {pinned.startedAt ? shortTime(pinned.startedAt) : 'earlier'} on the canvas
      <button className="small" onClick={() => store.pin(null)}>
        Back to live
      </button>
    </div>
  )
}
