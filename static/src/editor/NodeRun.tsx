// What a node shows of the shown run: a status badge in its header (with the duration, and the
// full error on hover) and its output below its ports, scrolling inside a fixed height.

import { useEffect, useRef, type RefObject } from 'react'

import { formatDuration, mediaOf, textOf, type NodeStatus, type NodeView } from './runs'
import { useNodeRun } from './runStore'

export const STATUS_TEXT: Record<NodeStatus, string> = {
  pending: 'Pending',
  running: 'Running',
  success: 'Done',
  cached: 'Cached',
  failed: 'Failed',
  skipped: 'Skipped',
  cancelled: 'Cancelled',
}

export function NodeStatusBadge({ nodeId }: { nodeId: string }) {
  const run = useNodeRun(nodeId)
  if (!run) return null
  return <StatusBadge run={run} />
}

function StatusBadge({ run }: { run: NodeView }) {
  const duration = formatDuration(run.durationMs)
  const title =
    run.status === 'failed'
      ? run.errorDetail || run.error
      : run.status === 'cached'
        ? 'Reused from an earlier run'
        : run.status === 'success' && duration
          ? `Done in ${duration}`
          : STATUS_TEXT[run.status]
  // A finished node shows just its time (the colour says it succeeded): titles stay readable.
  const text = run.status === 'success' && duration ? duration : STATUS_TEXT[run.status]
  return (
    <span className={`run-badge ${run.status}`} title={title} data-status={run.status}>
      {text}
    </span>
  )
}

/** An image output as a thumbnail in the output's row, so the node barely grows. */
export function OutputThumb({ nodeId }: { nodeId: string }) {
  const run = useNodeRun(nodeId)
  const media = run ? mediaOf(run.outputs) : null
  if (!media) return null
  return (
    <a className="out-thumb nodrag" href={mediaUrl(media, 1024)} target="_blank" rel="noreferrer" title="Open the output image">
      <img src={mediaUrl(media)} alt="Output image" />
    </a>
  )
}

export function mediaUrl(mediaId: string, width = 256): string {
  return `/api/media/${encodeURIComponent(mediaId)}?w=${width}`
}

/**
 * Growing answers stay scrolled to their end unless the reader scrolled up. Their sizes are read
 * when one ResizeObserver for all of them reports, after the browser's own layout: every box is
 * read first, then the ones that overflow are scrolled (a read after a scroll would lay the
 * canvas out again — a hundred nodes starting to stream at once did that a hundred times).
 */
interface Followed {
  box: HTMLElement
  atEnd: boolean
}
const followed = new Map<Element, Followed>()
let follower: ResizeObserver | null = null

function followEnds(entries: ResizeObserverEntry[]): void {
  const overflowing = entries
    .map((entry) => followed.get(entry.target))
    .filter((f): f is Followed => f !== undefined && f.atEnd && f.box.scrollHeight > f.box.clientHeight)
  for (const f of overflowing) f.box.scrollTop = f.box.scrollHeight
}

function useFollowEnd(box: RefObject<HTMLDivElement | null>, streaming: boolean): void {
  useEffect(() => {
    const el = box.current
    const content = el?.firstElementChild
    if (!el || !content || !streaming) return
    const state: Followed = { box: el, atEnd: true }
    const onScroll = () => (state.atEnd = el.scrollHeight - el.scrollTop - el.clientHeight < 40)
    followed.set(content, state)
    follower ??= new ResizeObserver(followEnds)
    el.addEventListener('scroll', onScroll, { passive: true })
    follower.observe(content)
    return () => {
      el.removeEventListener('scroll', onScroll)
      follower?.unobserve(content)
      followed.delete(content)
    }
  }, [box, streaming])
}

/**
 * What the node's run said. A node whose output is text has a slot of one fixed size for it,
 * there with or without a run: an answer (streamed or final) scrolls inside it, and a hundred
 * nodes starting at once change no node's size, so the canvas measures nothing again.
 * `outputType` undefined: the node shows its own value already (an input node).
 */
export function NodeOutput({ nodeId, outputType }: { nodeId: string; outputType: string | undefined }) {
  const run = useNodeRun(nodeId)
  if (outputType === 'text') return <TextOutput run={run} />
  return run?.status === 'failed' && run.error ? <Failure run={run} className="node-output error nowheel" /> : null
}

function Failure({ run, className }: { run: NodeView; className: string }) {
  return (
    <div className={className} role="alert" title={run.errorDetail || run.error}>
      {run.error}
    </div>
  )
}

const WAITING: Partial<Record<NodeStatus, string>> = {
  running: 'Running…',
  pending: 'Waiting for its inputs…',
  skipped: 'Skipped',
  cancelled: 'Cancelled',
  success: 'No text came out',
  cached: 'No text came out',
}

function TextOutput({ run }: { run: NodeView | undefined }) {
  const box = useRef<HTMLDivElement>(null)
  const text = !run ? '' : run.status === 'running' ? run.text : textOf(run.outputs)
  useFollowEnd(box, run?.status === 'running' && Boolean(text))
  if (run?.status === 'failed' && run.error) return <Failure run={run} className="node-output slot error nowheel" />
  // One element structure whether it waits or shows text: a hundred slots that start showing
  // text at once change a class and a text each, and create nothing.
  const state = !text ? 'empty' : `text nowheel${run?.status === 'running' ? ' streaming' : ''}`
  return (
    <div className={`node-output slot ${state}`} ref={box} data-output={text ? 'text' : 'none'}>
      <div>{text || ((run && WAITING[run.status]) ?? 'No output yet')}</div>
    </div>
  )
}
