// The workflow's Yjs document (schema in ARCHITECTURE.md, "The document") and every edit the
// editor makes to it. The document is the only copy of the graph: React Flow's nodes and edges
// are derived from it (see flow.ts), and each local edit runs in a transaction tagged with a
// local origin so that undo tracks only this person's edits.

import * as Y from 'yjs'

import { defaultData, textKeys, type NodeSpec, type SpecMap } from './specs'

/** Origin of ordinary local edits. */
export const LOCAL = { name: 'local' }
/** Origin of position writes while dragging: local too, but already shown, so not re-read. */
export const LOCAL_MOVE = { name: 'local-move' }

export interface XY {
  x: number
  y: number
}

export interface PlainNode {
  id: string
  type: string
  position: XY
  data: Record<string, unknown>
}

export interface PlainEdge {
  id: string
  source: string
  sourceHandle: string
  target: string
  targetHandle: string
}

export interface Roots {
  nodes: Y.Map<Y.Map<unknown>>
  edges: Y.Map<Y.Map<unknown>>
  meta: Y.Map<unknown>
}

export function roots(doc: Y.Doc): Roots {
  return {
    nodes: doc.getMap<Y.Map<unknown>>('nodes'),
    edges: doc.getMap<Y.Map<unknown>>('edges'),
    meta: doc.getMap('meta'),
  }
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'

/** A fresh id that fits the server's id rule ([A-Za-z0-9_.:-]{1,64}). */
export function newId(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10))
  let tail = ''
  for (const byte of bytes) tail += ALPHABET[byte % ALPHABET.length]
  return `${prefix.replace(/[^A-Za-z0-9_.:-]/g, '').slice(0, 40) || 'n'}-${tail}`
}

function plainValue(value: unknown): unknown {
  if (value instanceof Y.Text) return value.toString()
  if (value instanceof Y.AbstractType) return value.toJSON()
  return value
}

/** A node's data as plain values (Y.Text read as a string). */
export function plainData(data: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  if (data instanceof Y.Map) data.forEach((value, key) => (out[key] = plainValue(value)))
  return out
}

function number(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0
}

export function position(entry: Y.Map<unknown>): XY {
  const raw = entry.get('position') as { x?: unknown; y?: unknown } | undefined
  return { x: number(raw?.x), y: number(raw?.y) }
}

export function readNode(id: string, entry: Y.Map<unknown>): PlainNode {
  return { id, type: String(entry.get('type') ?? ''), position: position(entry), data: plainData(entry.get('data')) }
}

export function readEdge(id: string, entry: Y.Map<unknown>): PlainEdge {
  const field = (key: string) => String(entry.get(key) ?? '')
  return { id, source: field('source'), sourceHandle: field('sourceHandle'), target: field('target'), targetHandle: field('targetHandle') }
}

export function readGraph(doc: Y.Doc): { nodes: PlainNode[]; edges: PlainEdge[] } {
  const { nodes, edges } = roots(doc)
  return {
    nodes: [...nodes.entries()].map(([id, entry]) => readNode(id, entry)),
    edges: [...edges.entries()].map(([id, entry]) => readEdge(id, entry)),
  }
}

function nodeEntry(spec: NodeSpec | undefined, type: string, at: XY, data: Record<string, unknown>): Y.Map<unknown> {
  const texts = textKeys(spec)
  const yData = new Y.Map<unknown>()
  for (const [key, value] of Object.entries(data)) {
    yData.set(key, texts.has(key) && typeof value === 'string' ? new Y.Text(value) : value)
  }
  const entry = new Y.Map<unknown>()
  entry.set('type', type)
  entry.set('position', { x: at.x, y: at.y })
  entry.set('data', yData)
  return entry
}

function edgeEntry(edge: Omit<PlainEdge, 'id'>): Y.Map<unknown> {
  const entry = new Y.Map<unknown>()
  entry.set('source', edge.source)
  entry.set('sourceHandle', edge.sourceHandle)
  entry.set('target', edge.target)
  entry.set('targetHandle', edge.targetHandle)
  return entry
}

export function addNode(doc: Y.Doc, spec: NodeSpec, at: XY): string {
  const id = newId(spec.type)
  doc.transact(() => roots(doc).nodes.set(id, nodeEntry(spec, spec.type, at, defaultData(spec))), LOCAL)
  return id
}

export function addEdge(doc: Y.Doc, edge: Omit<PlainEdge, 'id'>): string {
  const id = newId('e')
  doc.transact(() => roots(doc).edges.set(id, edgeEntry(edge)), LOCAL)
  return id
}

export function moveNodes(doc: Y.Doc, moves: ReadonlyMap<string, XY>, origin: object = LOCAL_MOVE): void {
  const { nodes } = roots(doc)
  doc.transact(() => {
    for (const [id, at] of moves) nodes.get(id)?.set('position', { x: at.x, y: at.y })
  }, origin)
}

/** Set a plain (non-Y.Text) value in a node's data. */
export function setValue(doc: Y.Doc, nodeId: string, key: string, value: unknown): void {
  const data = roots(doc).nodes.get(nodeId)?.get('data')
  if (data instanceof Y.Map) doc.transact(() => data.set(key, value), LOCAL)
}

/** The Y.Text under `key` of a node's data, made one (from a plain string) when it is not yet. */
export function textOf(doc: Y.Doc, nodeId: string, key: string): Y.Text | null {
  const data = roots(doc).nodes.get(nodeId)?.get('data')
  if (!(data instanceof Y.Map)) return null
  const current = data.get(key)
  if (current instanceof Y.Text) return current
  const text = new Y.Text(typeof current === 'string' ? current : '')
  doc.transact(() => data.set(key, text), LOCAL)
  return text
}

export function setName(doc: Y.Doc, name: string): void {
  doc.transact(() => roots(doc).meta.set('name', name), LOCAL)
}

/** Delete nodes and edges; edges touching a deleted node go with it. */
export function deleteElements(doc: Y.Doc, nodeIds: Iterable<string>, edgeIds: Iterable<string> = []): void {
  const { nodes, edges } = roots(doc)
  const gone = new Set(nodeIds)
  doc.transact(() => {
    for (const id of edgeIds) edges.delete(id)
    for (const [id, entry] of [...edges.entries()]) {
      if (gone.has(String(entry.get('source'))) || gone.has(String(entry.get('target')))) edges.delete(id)
    }
    for (const id of gone) nodes.delete(id)
  }, LOCAL)
}

export interface Clip {
  nodes: PlainNode[]
  edges: PlainEdge[]
}

/** The chosen nodes and the edges between them (edges to the outside are left behind). */
export function copySelection(doc: Y.Doc, nodeIds: Iterable<string>): Clip {
  const { nodes, edges } = roots(doc)
  const chosen = new Set(nodeIds)
  const clip: Clip = { nodes: [], edges: [] }
  for (const id of chosen) {
    const entry = nodes.get(id)
    if (entry) clip.nodes.push(readNode(id, entry))
  }
  for (const [id, entry] of edges.entries()) {
    const edge = readEdge(id, entry)
    if (chosen.has(edge.source) && chosen.has(edge.target)) clip.edges.push(edge)
  }
  return clip
}

/** Insert a copy of `clip` shifted by `offset`, with fresh ids; returns the new node ids. */
export function paste(doc: Y.Doc, clip: Clip, offset: XY, specs: SpecMap): string[] {
  const { nodes, edges } = roots(doc)
  const ids = new Map(clip.nodes.map((node) => [node.id, newId(node.type)]))
  doc.transact(() => {
    for (const node of clip.nodes) {
      const at = { x: node.position.x + offset.x, y: node.position.y + offset.y }
      nodes.set(ids.get(node.id)!, nodeEntry(specs.get(node.type), node.type, at, node.data))
    }
    for (const edge of clip.edges) {
      edges.set(newId('e'), edgeEntry({ ...edge, source: ids.get(edge.source)!, target: ids.get(edge.target)! }))
    }
  }, LOCAL)
  return [...ids.values()]
}
