// One node component per node type, built from its spec: a handle per port coloured by type
// and named, every parameter editable on the node, connected inputs disabled and showing
// their source. The header shows the node's status in the shown run, and the node's output
// (the streamed answer, an image) sits below its ports.

import { Handle, Position, useNodesData, type NodeProps, type NodeTypes, type ReactFlowState } from '@xyflow/react'
import { memo, useCallback, useEffect, useRef, useState, type ComponentType } from 'react'

import { useDetailed, useEditor } from './context'
import { setValue } from './doc'
import { InputField, ParamField } from './fields'
import { UNKNOWN_TYPE, type FlowNode } from './flow'
import { NodeIcon } from './icons'
import { useFeeds } from './inputs'
import { NodeOutput, NodeStatusBadge, OutputThumb } from './NodeRun'
import { useNodeRunStatus } from './runStore'
import { PORT_COLOURS, type NodeSpec, type PortSpec } from './specs'
import { UploadField } from './Upload'

function Source({ nodeId }: { nodeId: string }) {
  const source = useNodesData<FlowNode>(nodeId)
  const label = source?.data.label
  return <>{typeof label === 'string' && label ? label : nodeId}</>
}

/**
 * Below this zoom fields are unreadable: nodes draw a same-sized outline of each field instead
 * of the field itself, so a large workflow's overview stays light and nothing moves when
 * zooming across it (the canvas reads it and hands it down: context.ts, DetailContext).
 */
const DETAIL_ZOOM = 0.45
export const detailedZoom = (s: ReactFlowState) => s.transform[2] >= DETAIL_ZOOM

function Skeleton({ tall }: { tall?: boolean }) {
  return <div className={tall ? 'skeleton tall' : 'skeleton'} aria-hidden="true" />
}

/**
 * A port's handle sits in the flow of its label row, pulled out to the node's edge by negative
 * margins. A positioned handle (and the positioned row it needed) is a paint layer of its own:
 * 1,700 of them on a 500-node canvas made each frame of a pan cost ten times more.
 */
function PortHandle({ port, type }: { port: PortSpec; type: 'source' | 'target' }) {
  return (
    <Handle
      type={type}
      position={type === 'target' ? Position.Left : Position.Right}
      id={port.name}
      className="handle"
      style={{ '--port': PORT_COLOURS[port.type] } as React.CSSProperties}
      title={type === 'target' ? `${port.label} (${port.type}${port.multiple ? ', many' : ''})` : `${port.label} (${port.type})`}
    />
  )
}

function InputRow({ nodeId, port, value, readOnly, detailed }: { nodeId: string; port: PortSpec; value: unknown; readOnly: boolean; detailed: boolean }) {
  const connections = useFeeds(nodeId, port.name)
  const connected = connections.length > 0
  const inline = !port.multiline && (port.editable || connected) && !port.multiple
  return (
    <div className={`port-row in${inline ? ' inline' : ''}`} data-port={port.name}>
      <div className="port-label">
        <PortHandle port={port} type="target" />
        <span>{port.label}</span>
        {port.required && <span className="required" title="Required">*</span>}
        <span className="port-type" style={{ color: PORT_COLOURS[port.type] }}>
          {port.type}
        </span>
      </div>
      {connected ? (
        <p className="from" title="Fed by a connection">
          {connections.map((c) =>
            detailed ? (
              <span key={c.edgeId} className="chip">
                <Source nodeId={c.source} />
              </span>
            ) : (
              // Unreadable at this zoom: a bar the size of a chip, with no text to clip.
              <span key={c.edgeId} className="chip bar" aria-hidden="true" />
            ),
          )}
        </p>
      ) : (
        port.editable && (detailed ? <InputField nodeId={nodeId} port={port} value={value} disabled={readOnly} /> : <Skeleton tall={port.multiline} />)
      )}
    </div>
  )
}

const Menu = memo(function Menu({ nodeId, label, onRename }: { nodeId: string; label: string; onRename: () => void }) {
  const { duplicate, remove, readOnly, runNodes, runBlocked } = useEditor()
  const [open, setOpen] = useState(false)
  const ref = useRef<HTMLDivElement>(null)
  useEffect(() => {
    if (!open) return
    const close = (event: PointerEvent) => !ref.current?.contains(event.target as Node) && setOpen(false)
    window.addEventListener('pointerdown', close)
    return () => window.removeEventListener('pointerdown', close)
  }, [open])
  if (readOnly) return null
  const item = (label: string, action: () => void, danger = false, disabled: string | null = null) => (
    <button role="menuitem" className={danger ? 'ghost danger' : 'ghost'} disabled={disabled !== null} title={disabled ?? undefined} onClick={() => (setOpen(false), action())}>
      {label}
    </button>
  )
  return (
    <div className="node-menu nodrag" ref={ref}>
      <button className="ghost icon small" aria-label={`Node menu: ${label}`} aria-haspopup="menu" aria-expanded={open} onClick={() => setOpen(!open)}>
        ⋯
      </button>
      {open && (
        <div className="menu" role="menu" onKeyDown={(e) => e.key === 'Escape' && setOpen(false)}>
          {item('Run node', () => runNodes?.('single', [nodeId]), false, runNodes ? null : runBlocked)}
          {item('Rename', onRename)}
          {item('Duplicate', () => duplicate([nodeId]))}
          {item('Delete', () => remove([nodeId]), true)}
        </div>
      )}
    </div>
  )
})

/** Characters of a title that fit beside a status badge; the overview shortens titles to this. */
const SHORT_TITLE = 24

const Title = memo(function Title({ nodeId, label, editing, detailed, onDone }: { nodeId: string; label: string; editing: boolean; detailed: boolean; onDone: () => void }) {
  const { doc } = useEditor()
  if (!editing && !detailed) {
    // No clip in the overview (500 clipped titles cost a pan a third of its frame time): the
    // title is shortened instead, and unreadable at this zoom anyway.
    return (
      <span className="node-title far" title={label}>
        {label.length > SHORT_TITLE ? `${label.slice(0, SHORT_TITLE - 1)}…` : label}
      </span>
    )
  }
  if (!editing) return <span className="node-title">{label}</span>
  return (
    <input
      className="node-title-input nodrag"
      aria-label="Node name"
      autoFocus
      defaultValue={label}
      maxLength={200}
      onKeyDown={(e) => (e.key === 'Enter' || e.key === 'Escape') && (e.currentTarget.blur(), e.stopPropagation())}
      onBlur={(e) => {
        const value = e.target.value.trim()
        if (value && value !== label) setValue(doc, nodeId, 'label', value)
        onDone()
      }}
    />
  )
})

const INLINE_KINDS = new Set(['number', 'integer', 'string', 'select', 'boolean', 'model'])

interface BodyProps {
  spec: NodeSpec
  id: string
  data: FlowNode['data']
  readOnly: boolean
  detailed: boolean
  /** A run is shown on the canvas (image outputs get a thumbnail slot). */
  shown: boolean
}

/** The ports and fields: rendered again when the node's data or the detail level changes, not
 * when its run status does (a hundred nodes starting at once re-render only their frames). */
const NodeBody = memo(function NodeBody({ spec, id, data, readOnly, detailed, shown }: BodyProps) {
  const upload = spec.params.find((p) => p.kind === 'media')
  return (
    <div className="node-body">
      {spec.inputs.map((port) => (
        <InputRow key={port.name} nodeId={id} port={port} value={data[port.name]} readOnly={readOnly} detailed={detailed} />
      ))}
      {spec.params.map((param) => (
        <div key={param.name} className={`param${INLINE_KINDS.has(param.kind) ? ' inline' : ''}`} data-param={param.name}>
          {param.kind !== 'media' && <span className="port-label">{param.label}</span>}
          {param === upload ? (
            <UploadField
              nodeId={id}
              name={param.name}
              kind={spec.outputs[0]?.type === 'video' ? 'video' : 'image'}
              mediaId={typeof data[param.name] === 'string' ? (data[param.name] as string) : ''}
              disabled={readOnly}
            />
          ) : detailed ? (
            <ParamField nodeId={id} param={param} value={data[param.name]} disabled={readOnly} />
          ) : (
            <Skeleton tall={param.kind === 'text'} />
          )}
        </div>
      ))}
      {spec.outputs.map((port) => (
        <div key={port.name} className="port-row out" data-port={port.name}>
          {shown && port.type === 'image' && spec.category !== 'inputs' && <OutputThumb nodeId={id} />}
          <div className="port-label">
            <span className="port-type" style={{ color: PORT_COLOURS[port.type] }}>
              {port.type}
            </span>
            <span>{port.label}</span>
            <PortHandle port={port} type="source" />
          </div>
        </div>
      ))}
    </div>
  )
})

function makeNode(spec: NodeSpec): ComponentType<NodeProps<FlowNode>> {
  const glow = { '--glow': spec.outputs[0] ? PORT_COLOURS[spec.outputs[0].type] : 'var(--accent)' } as React.CSSProperties
  const outputType = spec.category === 'inputs' ? undefined : spec.outputs[0]?.type
  // Only nodes with an image output show something of a run in their body (a thumbnail): for the
  // others a run starting leaves the body as it was, and it does not render again.
  const thumbs = spec.category !== 'inputs' && spec.outputs.some((port) => port.type === 'image')
  function SpecNode({ id, data, selected }: NodeProps<FlowNode>) {
    const { readOnly } = useEditor()
    const detailed = useDetailed()
    const [renaming, setRenaming] = useState(false)
    // Stable, so that a status change re-renders the header's parts that show it, not the rest.
    const rename = useCallback(() => setRenaming(true), [])
    const renamed = useCallback(() => setRenaming(false), [])
    const label = typeof data.label === 'string' && data.label ? data.label : spec.label
    // Only the status: a streamed token re-renders the node's output, not the whole node.
    const status = useNodeRunStatus(id)
    return (
      <div className={`node${selected ? ' selected' : ''}${status ? ` run-${status}` : ''}`} data-type={spec.type} data-run-status={status} style={glow}>
        <header className="node-head" onDoubleClick={() => !readOnly && rename()}>
          <NodeIcon type={spec.type} category={spec.category} />
          <Title nodeId={id} label={label} editing={renaming} detailed={detailed} onDone={renamed} />
          <span className="node-status" data-slot="status">
            {status && <NodeStatusBadge nodeId={id} />}
          </span>
          {detailed && <Menu nodeId={id} label={label} onRename={rename} />}
        </header>
        <NodeBody spec={spec} id={id} data={data} readOnly={readOnly} detailed={detailed} shown={thumbs && status !== undefined} />
        {(status || outputType === 'text') && <NodeOutput nodeId={id} outputType={outputType} />}
      </div>
    )
  }
  SpecNode.displayName = `Node(${spec.type})`
  return memo(SpecNode)
}

const UnknownNode = memo(function UnknownNode({ data }: NodeProps<FlowNode>) {
  return (
    <div className="node unknown">
      <header className="node-head">
        <span className="node-title">Unknown node type “{String(data.nodeType)}”</span>
      </header>
      <p className="node-body muted small">This server does not know this node type. Delete it, or open the workflow where it was made.</p>
    </div>
  )
})

export function buildNodeTypes(specs: readonly NodeSpec[]): NodeTypes {
  const types: NodeTypes = { [UNKNOWN_TYPE]: UnknownNode }
  for (const spec of specs) types[spec.type] = makeNode(spec)
  return types
}
