// Binding a <textarea> to a Y.Text: local typing becomes the smallest insert/delete, and a
// remote change moves the caret the way the text moved, so two people can type in one prompt.

export interface Splice {
  index: number
  remove: number
  insert: string
}

/** The single splice that turns `before` into `after` (common prefix and suffix kept). */
export function diff(before: string, after: string): Splice | null {
  if (before === after) return null
  let start = 0
  const shortest = Math.min(before.length, after.length)
  while (start < shortest && before[start] === after[start]) start++
  let end = 0
  while (end < shortest - start && before[before.length - 1 - end] === after[after.length - 1 - end]) end++
  return { index: start, remove: before.length - start - end, insert: after.slice(start, after.length - end) }
}

export type Delta = ReadonlyArray<{ retain?: number; insert?: unknown; delete?: number }>

/** Where a caret at `caret` ends up after a remote change described by a Yjs delta (a remote
 * insert exactly at the caret stays after it). */
export function shiftCaret(caret: number, delta: Delta): number {
  let index = 0
  let result = caret
  for (const op of delta) {
    if (index >= caret) break
    if (op.retain) index += op.retain
    else if (typeof op.insert === 'string') result += op.insert.length
    else if (op.delete) {
      result -= Math.min(op.delete, caret - index)
      index += op.delete
    }
  }
  return Math.max(0, result)
}
