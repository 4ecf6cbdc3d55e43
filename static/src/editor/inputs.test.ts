import { describe, expect, it } from 'vitest'

import { InputFeeds } from './inputs'

describe('InputFeeds', () => {
  const edge = (id: string, source: string, target: string, targetHandle: string) => ({ id, source, target, targetHandle })

  it('lists the connections into each input, in order, and nothing for an unconnected one', () => {
    const feeds = new InputFeeds()
    feeds.update([edge('e1', 'a', 'llm', 'images'), edge('e2', 'b', 'llm', 'images'), edge('e3', 'a', 'llm', 'user_message')])
    expect(feeds.of('llm', 'images')).toEqual([{ edgeId: 'e1', source: 'a' }, { edgeId: 'e2', source: 'b' }])
    expect(feeds.of('llm', 'user_message')).toEqual([{ edgeId: 'e3', source: 'a' }])
    expect(feeds.of('llm', 'system_prompt')).toEqual([])
    expect(feeds.of('other', 'images')).toBe(feeds.of('llm', 'system_prompt'))
  })

  it('keeps an unchanged input the same array and wakes subscribers only when something changed', () => {
    const feeds = new InputFeeds()
    let wakes = 0
    const stop = feeds.subscribe(() => wakes++)
    const edges = [edge('e1', 'a', 'llm', 'images'), edge('e3', 'a', 'llm', 'user_message')]
    feeds.update(edges)
    const images = feeds.of('llm', 'images')
    feeds.update(edges.map((e) => ({ ...e, selected: true })))
    expect(wakes).toBe(1)
    feeds.update([edges[0]])
    expect(wakes).toBe(2)
    expect(feeds.of('llm', 'images')).toBe(images)
    expect(feeds.of('llm', 'user_message')).toEqual([])
    stop()
    feeds.update([])
    expect(wakes).toBe(2)
  })
})
