// What the canvas shows of each node's run, a few nodes per animation frame.
//
// A hundred nodes starting at once change a hundred nodes in one frame: the browser then lays
// out, paints and rasterises all of them (~50 ms of main thread and as much again of raster on a
// small machine), and whatever arrives meanwhile — the next tokens of an answer being streamed, a
// node's end — waits for all of it. The pacer lets a frame show at most `perTurn` changed nodes,
// chosen in this order: a quarter of the share for those that have waited longest (so every node
// is shown within a few frames of its change); then by the change's rank (the caller's: the next
// tokens of an answer on screen before a node's end before a node starting), the most recent
// change first within a rank. A node that changes again while it waits is shown in its newest
// state: the intermediate states of a burst are never drawn.

interface Waiting<V> {
  /** The turn its shown view went stale. */
  since: number
  /** The turn it last changed, and the view it changed to. */
  last: number
  view: V | undefined
}

export class Pacer<V> {
  private shown = new Map<string, V>()
  private waiting = new Map<string, Waiting<V>>()
  private turn = 0

  /** `rank(shown, next)`: how soon going from `shown` to `next` is shown, lower first. */
  constructor(
    readonly perTurn: number,
    private readonly rank: (shown: V | undefined, next: V | undefined) => number = () => 0,
  ) {}

  /** What node `id` shows. */
  get(id: string): V | undefined {
    return this.shown.get(id)
  }

  /** How many nodes show an older view than the current one. */
  get backlog(): number {
    return this.waiting.size
  }

  /**
   * One turn: compare `current` (every node's view now) with what is shown, then show up to
   * `perTurn` of the nodes that differ — all of them with `all`.
   */
  step(current: Readonly<Record<string, V>>, all = false): void {
    this.turn++
    for (const id of new Set([...this.shown.keys(), ...Object.keys(current)])) {
      const view = current[id]
      if (this.shown.get(id) === view) {
        this.waiting.delete(id)
        continue
      }
      const waiting = this.waiting.get(id)
      if (!waiting) this.waiting.set(id, { since: this.turn, last: this.turn, view })
      else if (waiting.view !== view) Object.assign(waiting, { last: this.turn, view })
    }
    for (const id of all ? [...this.waiting.keys()] : this.choose()) {
      const view = this.waiting.get(id)?.view
      if (view === undefined) this.shown.delete(id)
      else this.shown.set(id, view)
      this.waiting.delete(id)
    }
  }

  /** The longest waiting, then by rank (the most recently changed first within one). */
  private choose(): string[] {
    if (this.waiting.size <= this.perTurn) return [...this.waiting.keys()]
    const entries = [...this.waiting.entries()].sort((a, b) => a[1].since - b[1].since)
    const oldest = entries.slice(0, Math.ceil(this.perTurn / 4))
    const ranked = entries
      .slice(oldest.length)
      .map(([id, w]) => ({ id, rank: this.rank(this.shown.get(id), w.view), last: w.last }))
      .sort((a, b) => a.rank - b.rank || b.last - a.last)
    return [...oldest.map(([id]) => id), ...ranked.slice(0, this.perTurn - oldest.length).map((r) => r.id)]
  }
}
