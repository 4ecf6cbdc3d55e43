// Which connections feed each input of each node, kept apart from React Flow's store: a node's
// input rows subscribe here, so they wake when connections change and not on every change of the
// viewport (React Flow runs every subscriber of its store on each frame of a pan).

import { createContext, useCallback, useContext, useSyncExternalStore } from 'react'

export interface Feed {
  edgeId: string
  source: string
}

interface EdgeLike {
  id: string
  source: string
  target: string
  targetHandle?: string | null
}

const NONE: readonly Feed[] = Object.freeze([])

const keyOf = (nodeId: string, port: string) => `${nodeId}\u0000${port}`

export class InputFeeds {
  private feeds = new Map<string, readonly Feed[]>()
  private listeners = new Set<() => void>()

  /** Take the canvas's edges; an input whose feeds did not change keeps the same array. */
  update(edges: readonly EdgeLike[]): void {
    const next = new Map<string, Feed[]>()
    for (const edge of edges) {
      if (!edge.targetHandle) continue
      const key = keyOf(edge.target, edge.targetHandle)
      const list = next.get(key) ?? []
      list.push({ edgeId: edge.id, source: edge.source })
      next.set(key, list)
    }
    let changed = next.size !== this.feeds.size
    const kept = new Map<string, readonly Feed[]>()
    for (const [key, list] of next) {
      const old = this.feeds.get(key)
      const same = old !== undefined && old.length === list.length && old.every((f, i) => f.edgeId === list[i].edgeId && f.source === list[i].source)
      kept.set(key, same ? old : list)
      if (!same) changed = true
    }
    this.feeds = kept
    if (changed) for (const listener of this.listeners) listener()
  }

  of(nodeId: string, port: string): readonly Feed[] {
    return this.feeds.get(keyOf(nodeId, port)) ?? NONE
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}

/** The canvas's feeds, handed to its nodes. */
export const FeedsContext = createContext(new InputFeeds())

/** The connections into one input of one node; wakes only when they change. */
export function useFeeds(nodeId: string, port: string): readonly Feed[] {
  const feeds = useContext(FeedsContext)
  const read = useCallback(() => feeds.of(nodeId, port), [feeds, nodeId, port])
  return useSyncExternalStore(feeds.subscribe, read)
}
