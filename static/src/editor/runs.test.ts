import { describe, expect, it } from 'vitest'

import { applyEvent, continueFrom, fromDetail, parseEvents, summaryOf, type NodeRunOut, type RunDetail, type RunEvent, type RunSummary, type RunView } from './runs'

const AT = '2026-12-01T10:00:00Z'
const started: RunEvent = { type: 'run_started', run_id: 'r1', seq: 1, workflow_id: 'w', scope: 'full', trigger: 'editor', node_ids: ['a', 'b'], at: AT }
const nodeStarted = (seq: number, node_id = 'a'): RunEvent => ({ type: 'node_started', run_id: 'r1', seq, node_id, node_type: 'llm', attempt: 1, at: AT })
const progress = (seq: number, delta: string): RunEvent => ({ type: 'node_progress', run_id: 'r1', seq, node_id: 'a', delta })
const finished = (seq: number, status: 'success' | 'failed' = 'success'): RunEvent => ({
  type: 'node_finished',
  run_id: 'r1',
  seq,
  node_id: 'a',
  node_type: 'llm',
  status,
  outputs: status === 'success' ? { output: 'Hello world' } : {},
  error: status === 'failed' ? 'The model refused' : '',
  error_detail: '',
  duration_ms: 1200,
  at: AT,
})

function fold(events: RunEvent[], from: RunView | null = null): { run: RunView | null; gaps: number } {
  let run = from
  let gaps = 0
  for (const event of events) {
    const applied = applyEvent(run, event)
    if (!applied) continue
    run = applied.run
    if (applied.gap) gaps++
  }
  return { run, gaps }
}

describe('applyEvent', () => {
  it('starts a run with its nodes pending, then streams and finishes a node', () => {
    const { run, gaps } = fold([started, nodeStarted(2), progress(3, 'Hel'), progress(4, 'lo')])
    expect(gaps).toBe(0)
    expect(run?.nodes.a).toMatchObject({ status: 'running', text: 'Hello' })
    expect(run?.nodes.b?.status).toBe('pending')
    const done = fold([finished(5)], run).run
    expect(done?.nodes.a).toMatchObject({ status: 'success', outputs: { output: 'Hello world' }, durationMs: 1200 })
  })

  it('ignores a repeated or older seq', () => {
    const { run } = fold([started, nodeStarted(2), progress(3, 'a'), progress(3, 'a'), progress(2, 'x')])
    expect(run?.nodes.a?.text).toBe('a')
    expect(run?.seq).toBe(3)
  })

  it('reports a gap and still applies the later event', () => {
    const { run, gaps } = fold([started, nodeStarted(2), finished(5, 'failed')])
    expect(gaps).toBe(1)
    expect(run?.nodes.a).toMatchObject({ status: 'failed', error: 'The model refused' })
  })

  it('answers null for an event of a run it never saw start', () => {
    expect(applyEvent(null, nodeStarted(4))).toBeNull()
  })

  it('takes the first event after a REST read as the count, and drops deltas of nodes not running', () => {
    const detail: RunDetail = {
      id: 'r1', workflow_id: 'w', status: 'running', scope: 'full', trigger: 'api', actor: null, node_ids: ['a', 'b'], error: '',
      created_at: AT, started_at: AT, finished_at: null, duration_ms: null, inputs: {},
      nodes: [{ node_id: 'a', node_type: 'llm', status: 'success', attempt: 1, inputs: {}, outputs: { output: 'done' }, error: '', error_detail: '', usage: {}, started_at: AT, finished_at: AT, duration_ms: 5 }],
    }
    const read = fromDetail(detail)
    expect(read.seq).toBeNull()
    expect(read.nodes.b?.status).toBe('pending')
    const { run, gaps } = fold([progress(9, 'late'), nodeStarted(10, 'b')], read)
    expect(gaps).toBe(0)
    expect(run?.nodes.a).toMatchObject({ status: 'success', text: '' })
    expect(run?.nodes.b?.status).toBe('running')
  })

  it('keeps the webhook that started a run when its events update the history entry', () => {
    const known: RunSummary = {
      id: 'r1', workflow_id: 'w', status: 'queued', scope: 'full', trigger: 'webhook', actor: null, hook: { id: 'h1', name: 'CRM' },
      node_ids: ['a', 'b'], error: '', created_at: AT, started_at: null, finished_at: null, duration_ms: null,
    }
    const { run } = fold([started])
    expect(run && summaryOf(run, known, 'w').hook).toEqual({ id: 'h1', name: 'CRM' })
    expect(run && summaryOf(run, undefined, 'w').hook).toBeNull()
  })

  it('finishes the run with its status and duration', () => {
    const end: RunEvent = { type: 'run_finished', run_id: 'r1', seq: 2, status: 'partial', error: '', duration_ms: 90, at: AT }
    expect(fold([started, end]).run).toMatchObject({ status: 'partial', durationMs: 90 })
  })
})

describe('continueFrom', () => {
  const node = (node_id: string, status: NodeRunOut['status'], streamed = ''): NodeRunOut => ({
    node_id, node_type: 'llm', status, attempt: 1, inputs: {}, outputs: {}, error: '', error_detail: '', usage: {},
    started_at: AT, finished_at: null, duration_ms: null, streamed,
  })
  const read = (seq: number, nodes: NodeRunOut[]): RunDetail => ({
    id: 'r1', workflow_id: 'w', status: 'running', scope: 'full', trigger: 'editor', actor: null, node_ids: ['a', 'b'], error: '',
    created_at: AT, started_at: AT, finished_at: null, duration_ms: null, inputs: {}, seq, nodes,
  })

  it('keeps the text streamed before the read and adds what came after it, once', () => {
    const received = [started, nodeStarted(2), progress(3, 'Hel'), progress(4, 'lo'), progress(5, ' wor')]
    const { run, gap } = continueFrom(read(4, [node('a', 'running', 'Hello'), node('b', 'pending')]), received)
    expect(gap).toBe(false)
    expect(run.seq).toBe(5)
    expect(run.nodes.a).toMatchObject({ status: 'running', text: 'Hello wor' })
  })

  it('applies what arrived while the read was under way, which the read predates', () => {
    // The read reflects seq 4; the node finished (seq 6) before the answer came back.
    const received = [progress(5, '!'), finished(6)]
    const { run } = continueFrom(read(4, [node('a', 'running', 'Hello'), node('b', 'pending')]), received)
    expect(run.nodes.a).toMatchObject({ status: 'success', outputs: { output: 'Hello world' } })
    expect(run.seq).toBe(6)
  })

  it('reports a gap between the read and the events received after it', () => {
    const { run, gap } = continueFrom(read(4, [node('a', 'running', 'Hello')]), [finished(7)])
    expect(gap).toBe(true)
    expect(run.nodes.a?.status).toBe('success')
  })

  it('counts from the first event when the server did not say which event it read', () => {
    const detail = read(4, [node('a', 'running', 'Hello')])
    delete detail.seq
    const { run } = continueFrom(detail, [progress(5, '!')])
    expect(run.seq).toBeNull()
    expect(fold([progress(5, '!')], run).run?.nodes.a?.text).toBe('Hello!')
  })
})

describe('parseEvents', () => {
  it('reads one run event or an array of them, and refuses anything else', () => {
    expect(parseEvents(JSON.stringify(started)).map((e) => e.type)).toEqual(['run_started'])
    expect(parseEvents(JSON.stringify([started, nodeStarted(2), progress(3, 'Hi')])).map((e) => e.seq)).toEqual([1, 2, 3])
    expect(parseEvents('{"type":"hello","run_id":"r","seq":1}')).toEqual([])
    expect(parseEvents('{"type":"node_started","seq":1}')).toEqual([])
    expect(parseEvents(JSON.stringify([{ type: 'hello' }, nodeStarted(2), 7, null]))).toEqual([nodeStarted(2)])
    expect(parseEvents('not json')).toEqual([])
    expect(parseEvents('null')).toEqual([])
  })
})
