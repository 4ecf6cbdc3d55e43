import { describe, expect, it } from 'vitest'

import { Pacer } from './pacer'
import { urgency } from './runStore'

type View = { status: string; text: string }
const running = (text = ''): View => ({ status: 'running', text })

/** Views of nodes n0..n(count-1), all `view`. */
function many(count: number, view: View, into: Record<string, View> = {}): Record<string, View> {
  for (let i = 0; i < count; i++) into[`n${i}`] = view
  return into
}

const shownCount = (pacer: Pacer<View>, current: Record<string, View>) =>
  Object.keys(current).filter((id) => pacer.get(id) === current[id]).length

describe('Pacer', () => {
  it('shows a few changes at once in the same turn', () => {
    const pacer = new Pacer<View>(8, urgency)
    const current = many(5, running())
    pacer.step(current)
    expect(shownCount(pacer, current)).toBe(5)
    expect(pacer.backlog).toBe(0)
  })

  it('shows a burst a share per turn, each node in its newest state, all within a bounded number of turns', () => {
    const pacer = new Pacer<View>(8, urgency)
    let current = many(100, running())
    pacer.step(current)
    expect(shownCount(pacer, current)).toBe(8)
    current = many(100, running('started…')) // every node's first text, while most still wait
    let turns = 1
    while (pacer.backlog) {
      pacer.step(current)
      turns++
    }
    expect(turns).toBeLessThanOrEqual(Math.ceil(100 / 8) + 2)
    expect(shownCount(pacer, current)).toBe(100)
  })

  it('puts the next tokens of a shown answer ahead of a burst', () => {
    const pacer = new Pacer<View>(8, urgency)
    const current: Record<string, View> = { llm: running() }
    pacer.step(current)
    many(100, running(), current) // a hundred nodes start
    pacer.step(current)
    for (let token = 1; token <= 5; token++) {
      current.llm = running('t'.repeat(token))
      pacer.step(current)
      expect(pacer.get('llm')).toBe(current.llm) // shown the turn it arrives
    }
    expect(pacer.backlog).toBeGreaterThan(0)
  })

  it("puts a node's end and an answer's next tokens ahead of a new run's nodes starting", () => {
    const pacer = new Pacer<View>(8, urgency)
    const done: View = { status: 'success', text: '' }
    const current = many(100, done, { t: done, llm: done })
    pacer.step(current, true) // an earlier run, all shown
    const pending: View = { status: 'pending', text: '' }
    many(100, pending, current) // a new run: every node pending, the answer's node starting first
    current.t = pending
    current.llm = running()
    pacer.step(current)
    current.llm = running('Hello') // its first token: the most recent change
    pacer.step(current)
    expect(pacer.get('llm')).toBe(current.llm)
    many(100, running('started…'), current) // a hundred nodes start, while the first node ends
    current.t = { status: 'success', text: 'go' }
    current.llm = running('Hello there')
    pacer.step(current)
    expect(pacer.get('t')).toBe(current.t)
    expect(pacer.get('llm')).toBe(current.llm)
    expect(pacer.backlog).toBeGreaterThan(50)
  })

  it('lets nothing wait for ever, however many answers stream', () => {
    const pacer = new Pacer<View>(8, urgency)
    const current = many(40, running())
    for (let i = 0; i < 10; i++) pacer.step(current)
    current.late = { status: 'success', text: '' }
    let turns = 0
    while (pacer.get('late') !== current.late) {
      for (let i = 0; i < 40; i++) current[`n${i}`] = running(`${current[`n${i}`].text}x`) // forty streams, each turn
      pacer.step(current)
      turns++
    }
    // A quarter of each turn goes to the longest waiting: at most the forty streams are ahead of it.
    expect(turns).toBeLessThanOrEqual(Math.ceil(41 / 2))
  })

  it('shows everything at once when asked, and forgets nodes that are gone', () => {
    const pacer = new Pacer<View>(8, urgency)
    const current = many(30, running())
    pacer.step(current, true)
    expect(shownCount(pacer, current)).toBe(30)
    delete current.n0
    pacer.step(current)
    expect(pacer.get('n0')).toBeUndefined()
    expect(pacer.backlog).toBe(0)
  })

  it('drops a wait when the node changes back to what it shows', () => {
    const pacer = new Pacer<View>(2, urgency)
    const first = many(3, running())
    pacer.step(first, true)
    const burst = many(3, { status: 'success', text: '' })
    pacer.step(burst)
    expect(pacer.backlog).toBe(1)
    const waiting = Object.keys(burst).find((id) => pacer.get(id) !== burst[id]) ?? ''
    pacer.step({ ...burst, [waiting]: first[waiting] })
    expect(pacer.backlog).toBe(0)
  })
})
