import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'

import { diff, shiftCaret, type Delta } from './text'

describe('diff', () => {
  it('finds the one splice between two strings', () => {
    expect(diff('hello', 'hello')).toBeNull()
    expect(diff('hello', 'help')).toEqual({ index: 3, remove: 2, insert: 'p' })
    expect(diff('abc', 'abXc')).toEqual({ index: 2, remove: 0, insert: 'X' })
    expect(diff('aaa', 'aa')).toEqual({ index: 2, remove: 1, insert: '' })
    expect(diff('', 'new')).toEqual({ index: 0, remove: 0, insert: 'new' })
  })
})

describe('shiftCaret', () => {
  function deltaOf(change: (text: Y.Text) => void, initial = 'abcdef'): Delta {
    const doc = new Y.Doc()
    const text = doc.getText('t')
    text.insert(0, initial)
    let delta: Delta = []
    text.observe((event) => (delta = event.delta as Delta))
    change(text)
    return delta
  }

  it('moves the caret past text inserted before it and not after it', () => {
    const delta = deltaOf((t) => t.insert(1, 'XY'))
    expect(shiftCaret(4, delta)).toBe(6)
    expect(shiftCaret(1, delta)).toBe(1)
    expect(shiftCaret(0, delta)).toBe(0)
  })

  it('pulls the caret back over deleted text', () => {
    expect(shiftCaret(5, deltaOf((t) => t.delete(1, 2)))).toBe(3)
    expect(shiftCaret(2, deltaOf((t) => t.delete(1, 3)))).toBe(1)
    expect(shiftCaret(1, deltaOf((t) => t.delete(3, 2)))).toBe(1)
  })
})
