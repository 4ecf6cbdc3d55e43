// Connection rules, driven only by the node specs. They match the server's validation
// (engine/validate.py and engine/spec.py `can_connect`): an output feeds an input of a
// compatible type, a single-valued input takes one connection, and no connection may close a
// cycle. The editor asks these while a connection is dragged, and again before it is stored.

import type { PortType, SpecMap } from './specs'

export interface GraphNode {
  type: string
  label?: string
}

export interface GraphEdge {
  source: string
  sourceHandle?: string | null
  target: string
  targetHandle?: string | null
}

export interface GraphView {
  nodes: ReadonlyMap<string, GraphNode>
  edges: Iterable<GraphEdge>
}

export interface Attempt {
  source: string | null
  sourceHandle?: string | null
  target: string | null
  targetHandle?: string | null
}

export type Verdict = { ok: true } | { ok: false; reason: string }

/** Text may feed a number input (it is parsed at run time); every other pairing must match. */
export function canConnect(source: PortType, target: PortType): boolean {
  return source === target || (source === 'text' && target === 'number')
}

function name(graph: GraphView, nodeId: string): string {
  const node = graph.nodes.get(nodeId)
  return node?.label || node?.type || nodeId
}

/** A path of node ids from `from` to `to` following edges, or null. */
export function pathBetween(edges: Iterable<GraphEdge>, from: string, to: string): string[] | null {
  const successors = new Map<string, string[]>()
  for (const edge of edges) {
    const list = successors.get(edge.source)
    if (list) list.push(edge.target)
    else successors.set(edge.source, [edge.target])
  }
  const parent = new Map<string, string | null>([[from, null]])
  const queue = [from]
  while (queue.length) {
    const current = queue.shift()!
    if (current === to) {
      const path: string[] = []
      for (let step: string | null = current; step !== null; step = parent.get(step) ?? null) path.push(step)
      return path.reverse()
    }
    for (const next of successors.get(current) ?? []) {
      if (!parent.has(next)) {
        parent.set(next, current)
        queue.push(next)
      }
    }
  }
  return null
}

export function checkConnection(attempt: Attempt, graph: GraphView, specs: SpecMap): Verdict {
  const { source, target, sourceHandle, targetHandle } = attempt
  if (!source || !target || !sourceHandle || !targetHandle) return { ok: false, reason: 'Drop the connection on a port.' }
  const sourceNode = graph.nodes.get(source)
  const targetNode = graph.nodes.get(target)
  if (!sourceNode || !targetNode) return { ok: false, reason: 'That node no longer exists.' }
  const output = specs.get(sourceNode.type)?.outputs.find((port) => port.name === sourceHandle)
  const input = specs.get(targetNode.type)?.inputs.find((port) => port.name === targetHandle)
  if (!output) return { ok: false, reason: `${name(graph, source)} has no output called “${sourceHandle}”.` }
  if (!input) return { ok: false, reason: `${name(graph, target)} has no input called “${targetHandle}”.` }
  if (source === target) return { ok: false, reason: 'A node cannot feed itself: that would be a cycle.' }
  if (!canConnect(output.type, input.type)) {
    return { ok: false, reason: `Type mismatch: ${output.label} gives ${NOUNS[output.type]}, but ${input.label} takes ${NOUNS[input.type]}.` }
  }
  const edges = [...graph.edges]
  const feeding = edges.filter((edge) => edge.target === target && edge.targetHandle === targetHandle)
  if (feeding.some((edge) => edge.source === source && edge.sourceHandle === sourceHandle)) {
    return { ok: false, reason: 'These ports are already connected.' }
  }
  if (!input.multiple && feeding.length > 0) {
    return {
      ok: false,
      reason: `${input.label} of ${name(graph, target)} takes one connection and already has one. Remove it first.`,
    }
  }
  const loop = pathBetween(edges, target, source)
  if (loop) {
    const names = [...loop, target].map((id) => name(graph, id)).join(' → ')
    return { ok: false, reason: `This would close a cycle: ${names}.` }
  }
  return { ok: true }
}

const NOUNS: Record<PortType, string> = { text: 'text', number: 'a number', image: 'an image', video: 'a video' }
