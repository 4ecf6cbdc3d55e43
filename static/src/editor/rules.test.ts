import { describe, expect, it } from 'vitest'

import { SPECS } from './fixtures.test-data'
import { canConnect, checkConnection, pathBetween, type GraphEdge, type GraphView } from './rules'
import { specMap } from './specs'

const specs = specMap(SPECS)

function graph(nodes: Record<string, string>, edges: GraphEdge[] = []): GraphView {
  return { nodes: new Map(Object.entries(nodes).map(([id, type]) => [id, { type, label: id }])), edges }
}

const edge = (source: string, sourceHandle: string, target: string, targetHandle: string): GraphEdge => ({
  source, sourceHandle, target, targetHandle,
})

describe('canConnect (as engine/spec.py)', () => {
  it('allows equal types and text into number only', () => {
    expect(canConnect('image', 'image')).toBe(true)
    expect(canConnect('text', 'number')).toBe(true)
    expect(canConnect('number', 'text')).toBe(false)
    expect(canConnect('image', 'video')).toBe(false)
  })
})

describe('checkConnection', () => {
  const g = graph({ t: 'text', img: 'upload_image', vid: 'upload_video', llm: 'llm', crop: 'crop_image', frame: 'extract_frame' })

  it('accepts a well-typed connection', () => {
    expect(checkConnection(edge('t', 'text', 'llm', 'user_message'), g, specs)).toEqual({ ok: true })
    expect(checkConnection(edge('t', 'text', 'crop', 'x_percent'), g, specs)).toEqual({ ok: true })
  })

  it('refuses a type mismatch and says which types', () => {
    const verdict = checkConnection(edge('img', 'image', 'llm', 'user_message'), g, specs)
    expect(verdict).toEqual({ ok: false, reason: 'Type mismatch: Image gives an image, but User message takes text.' })
    expect(checkConnection(edge('vid', 'video', 'crop', 'image_url'), g, specs).ok).toBe(false)
  })

  it('refuses a second edge into a single-valued input, but not into a multiple one', () => {
    const fed = graph({ a: 'text', b: 'text', llm: 'llm', i1: 'upload_image', i2: 'upload_image' }, [
      edge('a', 'text', 'llm', 'user_message'),
      edge('i1', 'image', 'llm', 'images'),
    ])
    const verdict = checkConnection(edge('b', 'text', 'llm', 'user_message'), fed, specs)
    expect(verdict.ok).toBe(false)
    expect(!verdict.ok && verdict.reason).toMatch(/takes one connection/)
    expect(checkConnection(edge('i2', 'image', 'llm', 'images'), fed, specs)).toEqual({ ok: true })
  })

  it('refuses a duplicate of an existing edge', () => {
    const fed = graph({ i1: 'upload_image', llm: 'llm' }, [edge('i1', 'image', 'llm', 'images')])
    expect(checkConnection(edge('i1', 'image', 'llm', 'images'), fed, specs)).toEqual({ ok: false, reason: 'These ports are already connected.' })
  })

  it('refuses a connection that closes a cycle, naming the loop', () => {
    const chain = graph({ a: 'llm', b: 'llm', c: 'llm' }, [edge('a', 'output', 'b', 'user_message'), edge('b', 'output', 'c', 'user_message')])
    const verdict = checkConnection(edge('c', 'output', 'a', 'user_message'), chain, specs)
    expect(verdict).toEqual({ ok: false, reason: 'This would close a cycle: a → b → c → a.' })
    expect(checkConnection(edge('a', 'output', 'a', 'system_prompt'), chain, specs).ok).toBe(false)
  })

  it('refuses unknown ports, missing nodes and a drop off any port', () => {
    expect(checkConnection(edge('t', 'nope', 'llm', 'user_message'), g, specs).ok).toBe(false)
    expect(checkConnection(edge('t', 'text', 'llm', 'nope'), g, specs).ok).toBe(false)
    expect(checkConnection(edge('gone', 'text', 'llm', 'user_message'), g, specs).ok).toBe(false)
    expect(checkConnection({ source: 't', sourceHandle: 'text', target: null, targetHandle: null }, g, specs).ok).toBe(false)
  })
})

describe('pathBetween', () => {
  it('finds a shortest path or none', () => {
    const edges = [edge('a', 'o', 'b', 'i'), edge('b', 'o', 'c', 'i'), edge('a', 'o', 'c', 'i')]
    expect(pathBetween(edges, 'a', 'c')).toEqual(['a', 'c'])
    expect(pathBetween(edges, 'c', 'a')).toBeNull()
  })
})
