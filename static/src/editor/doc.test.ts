import { describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'

import { addEdge, addNode, copySelection, deleteElements, moveNodes, newId, paste, readGraph, roots, setValue, textOf } from './doc'
import { SPECS } from './fixtures.test-data'
import { allEdges, allNodes, contentBox, flowNode, framing, nodeOutlines, overviewFrame, visibleRect, patch, touchedIds, type FlowNode } from './flow'
import { specMap } from './specs'
import { History } from './undo'

const specs = specMap(SPECS)
const spec = (type: string) => specs.get(type)!

function sync(a: Y.Doc, b: Y.Doc): void {
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)), 'remote')
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)), 'remote')
}

describe('the document schema', () => {
  it('stores nodes as the server reads them: type, position, data with Y.Text for multi-line text', () => {
    const doc = new Y.Doc()
    const id = addNode(doc, spec('llm'), { x: 10, y: 20 })
    const entry = roots(doc).nodes.get(id)!
    expect(entry.get('type')).toBe('llm')
    expect(entry.get('position')).toEqual({ x: 10, y: 20 })
    const data = entry.get('data') as Y.Map<unknown>
    expect(data.get('user_message')).toBeInstanceOf(Y.Text)
    expect(data.get('temperature')).toBe(0.7)
    expect(data.get('label')).toBe('Run LLM')
    expect(id).toMatch(/^[A-Za-z0-9_.:-]{1,64}$/)
  })

  it('makes ids the server accepts', () => {
    expect(newId('a very long prefix with spaces '.repeat(4))).toMatch(/^[A-Za-z0-9_.:-]{1,64}$/)
  })

  it('deletes the edges of a deleted node', () => {
    const doc = new Y.Doc()
    const a = addNode(doc, spec('text'), { x: 0, y: 0 })
    const b = addNode(doc, spec('llm'), { x: 0, y: 0 })
    addEdge(doc, { source: a, sourceHandle: 'text', target: b, targetHandle: 'user_message' })
    deleteElements(doc, [a])
    expect(readGraph(doc)).toMatchObject({ nodes: [{ id: b }], edges: [] })
  })

  it('copies a selection with its inner edges only and pastes it with fresh ids', () => {
    const doc = new Y.Doc()
    const a = addNode(doc, spec('text'), { x: 0, y: 0 })
    const b = addNode(doc, spec('llm'), { x: 100, y: 0 })
    const c = addNode(doc, spec('llm'), { x: 200, y: 0 })
    addEdge(doc, { source: a, sourceHandle: 'text', target: b, targetHandle: 'user_message' })
    addEdge(doc, { source: b, sourceHandle: 'output', target: c, targetHandle: 'user_message' })
    textOf(doc, b, 'user_message')!.insert(0, 'hi')
    const clip = copySelection(doc, [a, b])
    expect(clip.edges).toHaveLength(1)
    const fresh = paste(doc, clip, { x: 40, y: 40 }, specs)
    const graph = readGraph(doc)
    expect(graph.nodes).toHaveLength(5)
    expect(graph.edges).toHaveLength(3)
    const copyOfB = graph.nodes.find((n) => fresh.includes(n.id) && n.type === 'llm')!
    expect(copyOfB.position).toEqual({ x: 140, y: 40 })
    expect(copyOfB.data.user_message).toBe('hi')
    expect((roots(doc).nodes.get(copyOfB.id)!.get('data') as Y.Map<unknown>).get('user_message')).toBeInstanceOf(Y.Text)
  })

  it('merges two people typing into one prompt', () => {
    const one = new Y.Doc()
    const two = new Y.Doc()
    const id = addNode(one, spec('text'), { x: 0, y: 0 })
    sync(one, two)
    textOf(one, id, 'text')!.insert(0, 'Hello')
    textOf(two, id, 'text')!.insert(0, 'World')
    sync(one, two)
    const merged = readGraph(one).nodes[0].data.text as string
    expect(merged).toHaveLength(10)
    expect(readGraph(two).nodes[0].data.text).toBe(merged)
  })
})

describe('document → React Flow', () => {
  it('rebuilds only touched nodes and keeps view state', () => {
    const doc = new Y.Doc()
    const root = roots(doc)
    const a = addNode(doc, spec('text'), { x: 0, y: 0 })
    const b = addNode(doc, spec('llm'), { x: 5, y: 5 })
    const nodes: FlowNode[] = allNodes(root, specs).map((n) => ({ ...n, selected: n.id === a }))
    let touched = new Set<string>()
    root.nodes.observeDeep((events) => (touched = touchedIds(events, root.nodes)))
    moveNodes(doc, new Map([[a, { x: 50, y: 60 }]]))
    expect([...touched]).toEqual([a])
    const next = patch(nodes, touched, root.nodes, (id, entry, old) => flowNode(id, entry, specs, old))
    expect(next[0]).toMatchObject({ id: a, position: { x: 50, y: 60 }, selected: true })
    expect(next[1]).toBe(nodes[1])
    setValue(doc, b, 'temperature', 1.5)
    expect([...touched]).toEqual([b])
    deleteElements(doc, [a])
    const after = patch(next, touched, root.nodes, (id, entry, old) => flowNode(id, entry, specs, old))
    expect(after.map((n) => n.id)).toEqual([b])
  })

  it('reports Y.Text edits inside a node as that node', () => {
    const doc = new Y.Doc()
    const root = roots(doc)
    const a = addNode(doc, spec('text'), { x: 0, y: 0 })
    const text = textOf(doc, a, 'text')!
    let touched = new Set<string>()
    root.nodes.observeDeep((events) => (touched = touchedIds(events, root.nodes)))
    text.insert(0, 'x')
    expect([...touched]).toEqual([a])
    expect(allNodes(root, specs)[0].data.text).toBe('x')
  })

  it('colours edges by the type of their source port and maps unknown types', () => {
    const doc = new Y.Doc()
    const root = roots(doc)
    const img = addNode(doc, spec('upload_image'), { x: 0, y: 0 })
    const crop = addNode(doc, spec('crop_image'), { x: 0, y: 0 })
    addEdge(doc, { source: img, sourceHandle: 'image', target: crop, targetHandle: 'image_url' })
    expect(allEdges(root, specs)[0]).toMatchObject({ animated: true, data: { colour: '#ef8fc3' } })
    doc.transact(() => root.nodes.get(img)!.set('type', 'mystery'))
    expect(allNodes(root, specs).find((n) => n.id === img)!.type).toBe('unknown')
  })
})

describe('undo', () => {
  it('undoes only local edits, never a colleague’s', () => {
    const mine = new Y.Doc()
    const theirs = new Y.Doc()
    const history = new History(mine)
    const a = addNode(mine, spec('text'), { x: 0, y: 0 })
    sync(mine, theirs)
    const b = addNode(theirs, spec('text'), { x: 0, y: 0 })
    sync(mine, theirs)
    history.undo()
    expect(readGraph(mine).nodes.map((n) => n.id)).toEqual([b])
    history.redo()
    expect(readGraph(mine).nodes.map((n) => n.id).sort()).toEqual([a, b].sort())
  })

  it('makes a whole drag one step, however long it takes', () => {
    const doc = new Y.Doc()
    const history = new History(doc)
    const a = addNode(doc, spec('text'), { x: 0, y: 0 })
    history.manager.stopCapturing()
    vi.useFakeTimers()
    try {
      history.beginGesture()
      for (let step = 1; step <= 5; step++) {
        // The pointer rests longer than the capture timeout between moves.
        vi.setSystemTime(Date.now() + 2000)
        moveNodes(doc, new Map([[a, { x: step, y: step }]]))
      }
      history.endGesture()
    } finally {
      vi.useRealTimers()
    }
    expect(history.manager.undoStack).toHaveLength(2)
    history.undo()
    expect(readGraph(doc).nodes[0].position).toEqual({ x: 0, y: 0 })
    history.undo()
    expect(readGraph(doc).nodes).toHaveLength(0)
  })

  it('starts a new step after a gesture ends', () => {
    const doc = new Y.Doc()
    const history = new History(doc)
    const a = addNode(doc, spec('text'), { x: 0, y: 0 })
    history.beginGesture()
    moveNodes(doc, new Map([[a, { x: 9, y: 9 }]]))
    history.endGesture()
    setValue(doc, a, 'input_name', 'x')
    expect(history.manager.undoStack).toHaveLength(3)
  })
})

describe('framing', () => {
  it('fits every node in the view, centred, never past 100% or below 10%', () => {
    const one = framing([{ position: { x: 0, y: 0 } }], 1000, 800)
    expect(one.zoom).toBe(1)
    const many = framing(
      Array.from({ length: 500 }, (_, i) => ({ position: { x: (i % 25) * 340, y: Math.floor(i / 25) * 420 } })),
      1440,
      900,
    )
    expect(many.zoom).toBeGreaterThanOrEqual(0.1)
    expect(many.zoom).toBeLessThan(0.2)
    expect(framing([], 1000, 800)).toEqual({ x: 0, y: 0, zoom: 1 })
  })
})

describe('contentBox', () => {
  it('holds every node with room on each side, on a coarse grid that small moves do not change', () => {
    const nodes = [{ position: { x: -700, y: 30 } }, { position: { x: 8160, y: 7980 } }]
    const box = contentBox(nodes)
    expect(box.left).toBeLessThanOrEqual(-700 - 2048)
    expect(box.top).toBeLessThanOrEqual(30 - 2048)
    expect(box.left + box.width).toBeGreaterThanOrEqual(8160 + 318 + 2048)
    expect(box.top + box.height).toBeGreaterThanOrEqual(7980 + 280 + 2048)
    for (const edge of [box.left, box.top, box.width, box.height]) expect(Math.abs(edge % 1024)).toBe(0)
    expect(contentBox([nodes[0], { position: { x: 8190, y: 7990 } }])).toEqual(box)
  })

  it('keeps to where the nodes are, however far from the origin', () => {
    const far = contentBox([{ position: { x: 50_000, y: -40_000 } }])
    expect(far.left).toBeGreaterThan(40_000)
    expect(far.width).toBeLessThan(7_000)
    expect(contentBox([])).toEqual({ left: -2048, top: -2048, width: 4096 + 1024, height: 4096 + 1024 })
  })
})

describe('the overview', () => {
  it('draws every node as one rectangle of a path, measured sizes first', () => {
    const { path, bounds } = nodeOutlines([
      { position: { x: 0, y: 0 }, measured: { width: 300, height: 200 } },
      { position: { x: 500, y: -100 } },
    ])
    expect(path).toBe('M0 0h300v200h-300zM500 -100h318v140h-318z')
    expect(bounds).toEqual({ x: 0, y: -100, width: 818, height: 300 })
    expect(nodeOutlines([])).toEqual({ path: '', bounds: null })
  })

  it('frames the nodes and the visible part of the flow in the panel, keeping its frame while a pan stays inside', () => {
    const visible = visibleRect({ x: -100, y: -50, zoom: 0.5 }, 800, 400)
    expect(visible).toEqual({ x: 200, y: 100, width: 1600, height: 800 })
    const panel = { width: 168, height: 112 }
    const frame = overviewFrame({ x: 0, y: 0, width: 1000, height: 600 }, visible, panel)
    expect(frame.width / frame.height).toBeCloseTo(168 / 112)
    for (const [x, y] of [[0, 0], [1800, 900]]) {
      expect(x).toBeGreaterThanOrEqual(frame.x)
      expect(y).toBeGreaterThanOrEqual(frame.y)
      expect(x).toBeLessThanOrEqual(frame.x + frame.width)
      expect(y).toBeLessThanOrEqual(frame.y + frame.height)
    }
    const nudged = { ...visible, x: visible.x - 20 }
    expect(overviewFrame({ x: 0, y: 0, width: 1000, height: 600 }, nudged, panel, frame)).toBe(frame)
    const far = { ...visible, x: visible.x + 50_000 }
    expect(overviewFrame({ x: 0, y: 0, width: 1000, height: 600 }, far, panel, frame)).not.toBe(frame)
    expect(overviewFrame(null, visible, panel).width).toBeGreaterThan(1600)
  })
})
