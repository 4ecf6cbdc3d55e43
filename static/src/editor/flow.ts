// Document → React Flow. Only what changed is rebuilt: a node object keeps its identity until
// its own entry in the document changes, so one moved node re-renders one node component.
// Local view state (selection, measured size) is kept across updates.

import type { Edge, Node, Viewport } from '@xyflow/react'
import * as Y from 'yjs'

import { plainData, position, readEdge, type Roots, type XY } from './doc'
import { PORT_COLOURS, type SpecMap } from './specs'

export type NodeData = Record<string, unknown>
export type FlowNode = Node<NodeData>
export type FlowEdge = Edge<{ colour: string }>

export const UNKNOWN_TYPE = 'unknown'
/** About the size of a node on screen at zoom 1 (its card and the room for its handles), for
 * placing and framing before measuring. */
export const NODE_SIZE = { x: 318, y: 140 }

/** The ids of the top-level entries touched by an `observeDeep` batch on `root`. */
export function touchedIds(events: readonly Y.YEvent<any>[], root: Y.Map<Y.Map<unknown>>): Set<string> {
  const ids = new Set<string>()
  for (const event of events) {
    if (event.target === root && event instanceof Y.YMapEvent) {
      for (const key of event.keysChanged) if (key !== null) ids.add(key)
    } else if (typeof event.path[0] === 'string') {
      ids.add(event.path[0])
    }
  }
  return ids
}

export function flowNode(id: string, entry: Y.Map<unknown>, specs: SpecMap, previous?: FlowNode): FlowNode {
  const type = String(entry.get('type') ?? '')
  return {
    ...previous,
    id,
    type: specs.has(type) ? type : UNKNOWN_TYPE,
    position: position(entry),
    data: { ...plainData(entry.get('data')), nodeType: type },
  }
}

export function flowEdge(id: string, entry: Y.Map<unknown>, nodes: Roots['nodes'], specs: SpecMap, previous?: FlowEdge): FlowEdge {
  const edge = readEdge(id, entry)
  const sourceType = String(nodes.get(edge.source)?.get('type') ?? '')
  const portType = specs.get(sourceType)?.outputs.find((port) => port.name === edge.sourceHandle)?.type
  const colour = portType ? PORT_COLOURS[portType] : '#8a93a6'
  return { ...previous, ...edge, animated: true, style: { stroke: colour, strokeWidth: 2 }, data: { colour } }
}

/** `previous` with the entries named in `ids` rebuilt, added or removed, all others kept as they are. */
export function patch<T extends { id: string }>(
  previous: readonly T[],
  ids: ReadonlySet<string>,
  map: Y.Map<Y.Map<unknown>>,
  build: (id: string, entry: Y.Map<unknown>, old?: T) => T,
): T[] {
  const out: T[] = []
  const present = new Set<string>()
  for (const item of previous) {
    present.add(item.id)
    if (!ids.has(item.id)) {
      out.push(item)
      continue
    }
    const entry = map.get(item.id)
    if (entry instanceof Y.Map) out.push(build(item.id, entry, item))
  }
  for (const id of ids) {
    const entry = map.get(id)
    if (!present.has(id) && entry instanceof Y.Map) out.push(build(id, entry))
  }
  return out
}

export function allNodes(root: Roots, specs: SpecMap): FlowNode[] {
  return [...root.nodes.entries()].map(([id, entry]) => flowNode(id, entry, specs))
}

export function allEdges(root: Roots, specs: SpecMap): FlowEdge[] {
  return [...root.edges.entries()].map(([id, entry]) => flowEdge(id, entry, root.nodes, specs))
}

/** Where the nodes are, from positions alone: each is taken to be NODE_SIZE wide and twice its
 * height tall (an estimate that holds before anything is measured). Nodes must not be empty. */
function estimatedSpan(nodes: readonly { position: XY }[]): { left: number; top: number; right: number; bottom: number } {
  let [left, top, right, bottom] = [Infinity, Infinity, -Infinity, -Infinity]
  for (const { position } of nodes) {
    left = Math.min(left, position.x)
    top = Math.min(top, position.y)
    right = Math.max(right, position.x + NODE_SIZE.x)
    bottom = Math.max(bottom, position.y + NODE_SIZE.y * 2)
  }
  return { left, top, right, bottom }
}

/** A viewport that shows every node, from positions alone (sizes estimated). */
export function framing(nodes: readonly { position: XY }[], width: number, height: number): Viewport {
  if (nodes.length === 0 || width <= 0 || height <= 0) return { x: 0, y: 0, zoom: 1 }
  const { left, top, right, bottom } = estimatedSpan(nodes)
  const spanX = right - left
  const spanY = bottom - top
  const zoom = Math.max(0.1, Math.min(1, width / (spanX * 1.3), height / (spanY * 1.3)))
  return { x: (width - spanX * zoom) / 2 - left * zoom, y: (height - spanY * zoom) / 2 - top * zoom, zoom }
}

/** Room around the nodes in a large canvas's viewport box, and the step its edges move by. */
const BOX_MARGIN = 2048
const BOX_STEP = 1024

export type ContentBox = { left: number; top: number; width: number; height: number }

/**
 * The box a large canvas's viewport layer is given, in flow coordinates: every node with room to
 * spare, its edges on a coarse grid so that moving a node rarely changes it. When the transformed
 * layer's own box holds everything drawn in it, Chromium moves the layer on a pan without sorting
 * its thousands of paint chunks again (bench/README.md, "the viewport box").
 */
export function contentBox(nodes: readonly { position: XY }[]): ContentBox {
  const span = estimatedSpan(nodes.length ? nodes : [{ position: { x: 0, y: 0 } }])
  const left = Math.floor((span.left - BOX_MARGIN) / BOX_STEP) * BOX_STEP
  const top = Math.floor((span.top - BOX_MARGIN) / BOX_STEP) * BOX_STEP
  const right = Math.ceil((span.right + BOX_MARGIN) / BOX_STEP) * BOX_STEP
  const bottom = Math.ceil((span.bottom + BOX_MARGIN) / BOX_STEP) * BOX_STEP
  return { left, top, width: right - left, height: bottom - top }
}

export type Rect = { x: number; y: number; width: number; height: number }

type Sized = { position: XY; measured?: { width?: number; height?: number } }

/** Every node as one rectangle of a single SVG path, and the box around them all. */
export function nodeOutlines(nodes: readonly Sized[]): { path: string; bounds: Rect | null } {
  if (nodes.length === 0) return { path: '', bounds: null }
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity]
  const parts: string[] = []
  for (const { position, measured } of nodes) {
    const width = measured?.width ?? NODE_SIZE.x
    const height = measured?.height ?? NODE_SIZE.y
    parts.push(`M${Math.round(position.x)} ${Math.round(position.y)}h${Math.round(width)}v${Math.round(height)}h${-Math.round(width)}z`)
    minX = Math.min(minX, position.x)
    minY = Math.min(minY, position.y)
    maxX = Math.max(maxX, position.x + width)
    maxY = Math.max(maxY, position.y + height)
  }
  return { path: parts.join(''), bounds: { x: minX, y: minY, width: maxX - minX, height: maxY - minY } }
}

/** The part of the flow a pane of `width` × `height` pixels shows at `view`. */
export function visibleRect(view: Viewport, width: number, height: number): Rect {
  return { x: -view.x / view.zoom, y: -view.y / view.zoom, width: width / view.zoom, height: height / view.zoom }
}

/**
 * The part of the flow the overview shows: the nodes and the visible part, with the panel's
 * proportions (centred, some room around). The view box shown before (`kept`) stays while it
 * still holds both and is not much larger than they need, so a pan does not draw the nodes again.
 */
export function overviewFrame(bounds: Rect | null, visible: Rect, panel: { width: number; height: number }, kept: Rect | null = null): Rect {
  const left = Math.min(bounds?.x ?? visible.x, visible.x)
  const top = Math.min(bounds?.y ?? visible.y, visible.y)
  const right = Math.max(bounds ? bounds.x + bounds.width : -Infinity, visible.x + visible.width)
  const bottom = Math.max(bounds ? bounds.y + bounds.height : -Infinity, visible.y + visible.height)
  const scale = Math.max((right - left) / panel.width, (bottom - top) / panel.height) * 1.1
  const holds = kept !== null && kept.x <= left && kept.y <= top && kept.x + kept.width >= right && kept.y + kept.height >= bottom
  if (holds && kept.width <= panel.width * scale * 1.6) return kept
  const width = panel.width * scale
  const height = panel.height * scale
  return { x: (left + right) / 2 - width / 2, y: (top + bottom) / 2 - height / 2, width, height }
}
