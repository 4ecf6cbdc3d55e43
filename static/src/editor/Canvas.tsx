// The canvas: React Flow showing the document, and every gesture turned into a document edit.

import {
  Background,
  BackgroundVariant,
  ConnectionLineType,
  Controls,
  getBezierPath,
  ReactFlow,
  useNodesInitialized,
  useReactFlow,
  useStore,
  type Connection,
  type ConnectionLineComponentProps,
  type EdgeChange,
  type NodeChange,
  type OnSelectionChangeParams,
  type Viewport,
} from '@xyflow/react'
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type CSSProperties, type DragEvent, type PointerEvent, type RefObject } from 'react'
import type { Awareness } from 'y-protocols/awareness'
import type * as Y from 'yjs'

import { DetailContext, useEditor } from './context'
import { addEdge, addNode, LOCAL_MOVE, moveNodes, roots, type XY } from './doc'
import { allEdges, allNodes, contentBox, flowEdge, flowNode, framing, NODE_SIZE, patch, touchedIds, type ContentBox, type FlowEdge, type FlowNode } from './flow'
import { FeedsContext, InputFeeds } from './inputs'
import { buildNodeTypes, detailedZoom } from './NodeCard'
import { Overview } from './Overview'
import { Cursors, SelectionOutlines } from './presence'
import { useRunStore } from './runStore'
import { checkConnection, type Attempt, type GraphView } from './rules'
import type { NodeSpec } from './specs'
import type { History } from './undo'

const CURSOR_EVERY_MS = 50

export const PALETTE_MIME = 'application/x-galaxy-node'
/**
 * Past this size edges stop flowing and the canvas is one composited layer: flowing dashes repaint
 * every edge in every frame, about 0.4 ms per edge here, so 100 edges took 40 ms a frame with
 * nothing else happening (bench/README.md).
 */
const LARGE = { nodes: 150, edges: 30 }
/** A large canvas's nodes become layers this long after it is drawn, when it has at most `upTo`
 * nodes (bench/README.md, runs on the canvas). */
const LAYERS = { afterMs: 300, upTo: 250 }

// Safari has no idle callbacks: there the layers come with the next task.
const whenIdle = (run: () => void): number => (window.requestIdleCallback ? window.requestIdleCallback(run) : window.setTimeout(run))
const cancelIdle = (handle: number) => (window.cancelIdleCallback ? window.cancelIdleCallback(handle) : window.clearTimeout(handle))

/** The viewport layer's box (see `contentBox`), as the variables editor.css places it by. */
function viewportBoxStyle(box: ContentBox): CSSProperties {
  return {
    '--vp-x': `${-box.left}px`,
    '--vp-y': `${-box.top}px`,
    '--vp-w': `${box.width}px`,
    '--vp-h': `${box.height}px`,
  } as CSSProperties
}

function InvalidAwareLine({ fromX, fromY, toX, toY, fromPosition, toPosition, connectionStatus }: ConnectionLineComponentProps) {
  const [path] = getBezierPath({ sourceX: fromX, sourceY: fromY, sourcePosition: fromPosition, targetX: toX, targetY: toY, targetPosition: toPosition })
  const colour = connectionStatus === 'invalid' ? 'var(--danger)' : 'var(--accent)'
  return <path d={path} fill="none" stroke={colour} strokeWidth={2} strokeDasharray={connectionStatus === 'invalid' ? '6 4' : undefined} />
}

function useDocumentView(doc: Y.Doc, specs: ReadonlyMap<string, NodeSpec>) {
  const root = useMemo(() => roots(doc), [doc])
  const [nodes, setNodes] = useState<FlowNode[]>(() => allNodes(root, specs))
  const [edges, setEdges] = useState<FlowEdge[]>(() => allEdges(root, specs))
  useEffect(() => {
    setNodes(allNodes(root, specs))
    setEdges(allEdges(root, specs))
    const onNodes = (events: Y.YEvent<Y.Map<unknown>>[], txn: Y.Transaction) => {
      // Our own drag frames are on screen already.
      if (txn.origin === LOCAL_MOVE) return
      const ids = touchedIds(events, root.nodes)
      setNodes((list) => patch(list, ids, root.nodes, (id, entry, old) => flowNode(id, entry, specs, old)))
    }
    const onEdges = (events: Y.YEvent<Y.Map<unknown>>[]) => {
      const ids = touchedIds(events, root.edges)
      setEdges((list) => patch(list, ids, root.edges, (id, entry, old) => flowEdge(id, entry, root.nodes, specs, old)))
    }
    root.nodes.observeDeep(onNodes)
    root.edges.observeDeep(onEdges)
    return () => {
      root.nodes.unobserveDeep(onNodes)
      root.edges.unobserveDeep(onEdges)
    }
  }, [root, specs])
  return { nodes, setNodes, edges, setEdges }
}

export type Adder = RefObject<((spec: NodeSpec) => void) | null>

export function Canvas(props: { specList: NodeSpec[]; history: History; awareness: Awareness; synced: boolean; adder: Adder }) {
  const { doc, specs, readOnly, duplicate, remove } = useEditor()
  const { history, awareness } = props
  const flow = useReactFlow<FlowNode, FlowEdge>()
  const { nodes, setNodes, edges, setEdges } = useDocumentView(doc, specs)
  const detailed = useStore(detailedZoom)
  const [feeds] = useState(() => new InputFeeds())
  useLayoutEffect(() => feeds.update(edges), [feeds, edges])
  const nodeTypes = useMemo(() => buildNodeTypes(props.specList), [props.specList])
  const wrapper = useRef<HTMLDivElement>(null)
  const runs = useRunStore()
  // Past MANY_RUNNING running nodes their glows hold still (editor.css, `data-busy`), and while a
  // run is under way each node is a layer of its own (`data-running`). The flags are set on the
  // element straight from the store: rendering the canvas again for them would hand
  // React Flow new callbacks, and React Flow would then update its store for every node and
  // edge — in the very frame a hundred nodes start.
  useLayoutEffect(() => {
    const mark = () => {
      wrapper.current?.toggleAttribute('data-busy', runs.busy)
      wrapper.current?.toggleAttribute('data-running', runs.active)
    }
    mark()
    return runs.subscribe(mark)
  }, [runs])
  const [hint, setHint] = useState<string | null>(null)
  const hintTimer = useRef(0)
  const graph = useRef<GraphView>({ nodes: new Map(), edges: [] })

  graph.current = {
    nodes: new Map(nodes.map((n) => [n.id, { type: String(n.data.nodeType), label: typeof n.data.label === 'string' ? n.data.label : undefined }])),
    edges,
  }

  // Drag positions go to the document once per animation frame.
  const pendingMoves = useRef(new Map<string, XY>())
  const frame = useRef(0)
  const flushMoves = useCallback(() => {
    frame.current = 0
    if (pendingMoves.current.size === 0) return
    const moves = pendingMoves.current
    pendingMoves.current = new Map()
    moveNodes(doc, moves, LOCAL_MOVE)
  }, [doc])

  const onNodesChange = useCallback(
    (changes: NodeChange<FlowNode>[]) => {
      const kept = changes.filter((c) => c.type === 'position' || c.type === 'select' || c.type === 'dimensions')
      if (kept.length === 0) return
      for (const change of kept) {
        if (change.type === 'position' && change.position && !readOnly) {
          pendingMoves.current.set(change.id, change.position)
          if (!frame.current) frame.current = requestAnimationFrame(flushMoves)
        }
      }
      setNodes((list) => applyChanges(list, kept))
    },
    [flushMoves, readOnly, setNodes],
  )

  const onEdgesChange = useCallback(
    (changes: EdgeChange<FlowEdge>[]) => {
      const selected = new Map<string, boolean>()
      for (const c of changes) if (c.type === 'select') selected.set(c.id, c.selected)
      if (selected.size) setEdges((list) => list.map((e) => (selected.has(e.id) && e.selected !== selected.get(e.id) ? { ...e, selected: selected.get(e.id) } : e)))
    },
    [setEdges],
  )

  const showHint = useCallback((text: string | null, ms = 0) => {
    window.clearTimeout(hintTimer.current)
    setHint(text)
    if (text && ms) hintTimer.current = window.setTimeout(() => setHint(null), ms)
  }, [])

  const lastVerdict = useRef<string | null>(null)
  const isValidConnection = useCallback(
    (attempt: Attempt | FlowEdge) => {
      const verdict = checkConnection(attempt as Attempt, graph.current, specs)
      const reason = verdict.ok ? null : verdict.reason
      if (reason !== lastVerdict.current) {
        lastVerdict.current = reason
        showHint(reason)
      }
      return verdict.ok
    },
    [specs, showHint],
  )

  const onConnect = useCallback(
    (connection: Connection) => {
      const verdict = checkConnection(connection, graph.current, specs)
      if (!verdict.ok) return showHint(verdict.reason, 4000)
      addEdge(doc, { source: connection.source, sourceHandle: connection.sourceHandle!, target: connection.target, targetHandle: connection.targetHandle! })
    },
    [doc, specs, showHint],
  )

  const placeAt = useCallback(
    (spec: NodeSpec, at: XY) => {
      const taken = (p: XY) => graph.current.nodes.size > 0 && flow.getNodes().some((n) => Math.abs(n.position.x - p.x) < 8 && Math.abs(n.position.y - p.y) < 8)
      let spot = at
      for (let step = 1; step < 20 && taken(spot); step++) spot = { x: at.x + 24 * step, y: at.y + 24 * step }
      const id = addNode(doc, spec, spot)
      setNodes((list) => list.map((n) => (n.selected !== (n.id === id) ? { ...n, selected: n.id === id } : n)))
    },
    [doc, flow, setNodes],
  )

  // The node list adds a node at the centre of the view.
  const { adder } = props
  useEffect(() => {
    adder.current = (spec: NodeSpec) => {
      const box = wrapper.current?.getBoundingClientRect()
      if (!box) return
      const centre = flow.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 2 })
      placeAt(spec, { x: Math.round(centre.x - NODE_SIZE.x / 2), y: Math.round(centre.y - NODE_SIZE.y / 2) })
    }
    return () => {
      adder.current = null
    }
  }, [adder, flow, placeAt])

  function onDrop(event: DragEvent) {
    const type = event.dataTransfer.getData(PALETTE_MIME)
    const spec = specs.get(type)
    if (!spec || readOnly) return
    event.preventDefault()
    const at = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY })
    placeAt(spec, { x: Math.round(at.x - 20), y: Math.round(at.y - 20) })
  }

  // Presence: my cursor (flow coordinates, at most every CURSOR_EVERY_MS, the last position always
  // sent) and my selection. The server relays 30 presence messages a second per socket at most.
  const cursorTimer = useRef(0)
  const cursorAt = useRef<XY | null>(null)
  function onPointerMove(event: PointerEvent) {
    cursorAt.current = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY })
    if (!cursorTimer.current) {
      cursorTimer.current = window.setTimeout(() => {
        cursorTimer.current = 0
        awareness.setLocalStateField('cursor', cursorAt.current)
      }, CURSOR_EVERY_MS)
    }
  }
  const onSelectionChange = useCallback(
    ({ nodes: chosen }: OnSelectionChangeParams) => awareness.setLocalStateField('selection', chosen.map((n) => n.id)),
    [awareness],
  )

  // The first view frames the whole workflow from its stored positions, so a large one is drawn
  // at its overview zoom (and in overview detail) from the first frame; once the nodes are
  // measured, fitView makes it exact.
  const [initialView, setInitialView] = useState<Viewport | null>(null)
  useEffect(() => {
    // Measuring the wrapper forces a layout: only until the first view is chosen, not on every
    // change of the nodes (a drag changes them every frame).
    if (!props.synced || initialView) return
    const box = wrapper.current?.getBoundingClientRect()
    if (box) setInitialView(framing(nodes, box.width, box.height))
  }, [props.synced, initialView, nodes])
  const initialised = useNodesInitialized()
  const fitted = useRef(false)
  useEffect(() => {
    if (!fitted.current && initialised && initialView) {
      fitted.current = true
      void flow.fitView({ padding: 0.15, maxZoom: 1 })
    }
  }, [initialised, initialView, flow])

  // Keyboard: undo/redo, copy/paste/duplicate (Delete is React Flow's own).
  const clipboard = useRef<string[]>([])
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement
      const inField = target.closest('input, textarea, select, [contenteditable="true"]') !== null
      const mod = event.metaKey || event.ctrlKey
      if (!mod || readOnly) return
      const key = event.key.toLowerCase()
      if (key === 'z' || key === 'y') {
        // In a plain field the browser's own undo is the right one; Y.Text fields use ours.
        if (inField && !target.hasAttribute('data-collab')) return
        event.preventDefault()
        if (key === 'y' || event.shiftKey) history.redo()
        else history.undo()
        return
      }
      if (inField) return
      const selected = flow.getNodes().filter((n) => n.selected).map((n) => n.id)
      if (key === 'c' && selected.length) clipboard.current = selected
      else if (key === 'v' && clipboard.current.length) (event.preventDefault(), duplicate(clipboard.current))
      else if (key === 'd' && selected.length) (event.preventDefault(), duplicate(selected))
      else if (key === 'a') (event.preventDefault(), setNodes((list) => list.map((n) => (n.selected ? n : { ...n, selected: true }))))
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [duplicate, flow, history, readOnly, setNodes])

  const large = nodes.length > LARGE.nodes || edges.length > LARGE.edges
  const layerBox = useMemo(() => (large ? contentBox(nodes) : null), [large, nodes])
  // Once a large workflow is on screen and the page is idle, each node becomes a layer of its own
  // (editor.css, `data-layered`): made later, at a run's start, the layers cost one long frame
  // just as the run's first events arrive; made with the first draw, they slow the open. Past
  // LAYERS.upTo nodes, compositing that many layers slows every frame of a pan more than it saves.
  const layered = large && nodes.length <= LAYERS.upTo
  useEffect(() => {
    const canvas = wrapper.current
    if (!layered) return canvas?.removeAttribute('data-layered')
    if (!initialised || canvas?.hasAttribute('data-layered')) return
    let idle = 0
    const timer = window.setTimeout(() => {
      idle = whenIdle(() => canvas?.setAttribute('data-layered', ''))
    }, LAYERS.afterMs)
    return () => (clearTimeout(timer), cancelIdle(idle))
  }, [layered, initialised])

  return (
    <div
      className={`canvas${readOnly ? ' read-only' : ''}${large ? ' large' : ''}`}
      style={layerBox ? viewportBoxStyle(layerBox) : undefined}
      ref={wrapper}
      onDragOver={(e) => e.dataTransfer.types.includes(PALETTE_MIME) && (e.preventDefault(), (e.dataTransfer.dropEffect = 'copy'))}
      onDrop={onDrop}
      onPointerMove={onPointerMove}
      onPointerLeave={() => awareness.setLocalStateField('cursor', null)}
    >
      {initialView && <FeedsContext.Provider value={feeds}><DetailContext.Provider value={detailed}><ReactFlow<FlowNode, FlowEdge>
        defaultViewport={initialView}
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onDelete={({ nodes: gone, edges: cut }) => remove(gone.map((n) => n.id), cut.map((e) => e.id))}
        onConnect={onConnect}
        isValidConnection={isValidConnection}
        onConnectStart={() => ((lastVerdict.current = null), showHint(null))}
        onConnectEnd={() => {
          if (lastVerdict.current) showHint(lastVerdict.current, 4000)
          lastVerdict.current = null
        }}
        onNodeDragStart={() => history.beginGesture()}
        onNodeDragStop={() => {
          cancelAnimationFrame(frame.current)
          flushMoves()
          history.endGesture()
        }}
        onSelectionChange={onSelectionChange}
        connectionLineComponent={InvalidAwareLine}
        connectionLineType={ConnectionLineType.Bezier}
        nodesDraggable={!readOnly}
        nodesConnectable={!readOnly}
        deleteKeyCode={readOnly ? null : ['Delete', 'Backspace']}
        selectionKeyCode="Shift"
        multiSelectionKeyCode={['Shift', 'Meta', 'Control']}
        minZoom={0.1}
        maxZoom={2}
        proOptions={{ hideAttribution: true }}
        colorMode="dark"
      >
        <Background variant={BackgroundVariant.Dots} gap={20} size={1.2} color="#2c3240" />
        <Controls showInteractive={false} position="bottom-left" />
        <Overview nodes={nodes} />
        <Cursors awareness={awareness} />
      </ReactFlow></DetailContext.Provider></FeedsContext.Provider>}
      <SelectionOutlines awareness={awareness} />
      {hint && (
        <div className="connect-hint" role="alert">
          {hint}
        </div>
      )}
      {props.synced && nodes.length === 0 && (
        <div className="canvas-empty">
          <p>{readOnly ? 'This workflow is empty.' : 'Add a node from the left, or drag one onto the canvas.'}</p>
        </div>
      )}
    </div>
  )
}

/** Position, selection and size changes applied to the few nodes they concern. */
function applyChanges(list: FlowNode[], changes: NodeChange<FlowNode>[]): FlowNode[] {
  const byId = new Map<string, NodeChange<FlowNode>[]>()
  for (const change of changes) {
    if (!('id' in change)) continue
    const bucket = byId.get(change.id)
    if (bucket) bucket.push(change)
    else byId.set(change.id, [change])
  }
  return list.map((node) => {
    const mine = byId.get(node.id)
    if (!mine) return node
    let next = node
    for (const change of mine) {
      if (change.type === 'position') {
        next = { ...next, ...(change.position ? { position: change.position } : {}), dragging: change.dragging }
      } else if (change.type === 'select') {
        if (next.selected !== change.selected) next = { ...next, selected: change.selected }
      } else if (change.type === 'dimensions') {
        next = { ...next, ...(change.dimensions ? { measured: change.dimensions } : {}) }
        if (change.setAttributes && change.dimensions) next = { ...next, width: change.dimensions.width, height: change.dimensions.height }
      }
    }
    return next
  })
}
