// What a node shows of the shown run: a status badge in its header (with the duration, and the
// full error on hover) and its output below its ports, scrolling inside a fixed height.

import { useEffect, useRef } from 'react'

import { formatDuration, mediaOf, textOf, type NodeStatus, type NodeView } from './runs'

export const STATUS_TEXT: Record<NodeStatus, string> = {
  pending: 'Pending',
  running: 'Running',
  success: 'Done',
  cached: 'Cached',
  failed: 'Failed',
  skipped: 'Skipped',
  cancelled: 'Cancelled',
}

export function NodeStatusBadge({ run }: { run: NodeView }) {
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
export function OutputThumb({ run }: { run: NodeView }) {
  const media = mediaOf(run.outputs)
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

/** `outputType` undefined: the node shows its own value already (an input node). */
export function NodeOutput({ run, outputType }: { run: NodeView; outputType: string | undefined }) {
  const box = useRef<HTMLDivElement>(null)
  const text = run.status === 'running' ? run.text : textOf(run.outputs)
  // A growing answer stays scrolled to its end unless the reader scrolled up.
  useEffect(() => {
    const el = box.current
    if (el && run.status === 'running' && el.scrollHeight - el.scrollTop - el.clientHeight < 40) el.scrollTop = el.scrollHeight
  }, [text, run.status])
  if (run.status === 'failed' && run.error) {
    return (
      <div className="node-output error nowheel" role="alert" title={run.errorDetail || run.error}>
        {run.error}
      </div>
    )
  }
  if (text && outputType === 'text') {
    return (
      <div className={`node-output text nowheel${run.status === 'running' ? ' streaming' : ''}`} ref={box} data-output="text">
        {text}
      </div>
    )
  }
  return null
}
