// Per-person undo: a Y.UndoManager that tracks only this client's own transactions, so undo
// never takes back a colleague's edit. A gesture (a drag of one or many nodes) is one step
// however long it lasts.

import * as Y from 'yjs'

import { LOCAL, LOCAL_MOVE, roots } from './doc'

const CAPTURE_MS = 500

export class History {
  readonly manager: Y.UndoManager
  private gestures = 0

  constructor(doc: Y.Doc) {
    const { nodes, edges, meta } = roots(doc)
    this.manager = new Y.UndoManager([nodes, edges, meta], {
      trackedOrigins: new Set<unknown>([LOCAL, LOCAL_MOVE]),
      captureTimeout: CAPTURE_MS,
    })
  }

  /** Everything until `endGesture` becomes one undo step, however slow the gesture. */
  beginGesture(): void {
    if (this.gestures++ === 0) {
      this.manager.stopCapturing()
      this.manager.captureTimeout = Number.MAX_SAFE_INTEGER
    }
  }

  endGesture(): void {
    if (this.gestures === 0) return
    if (--this.gestures === 0) {
      this.manager.captureTimeout = CAPTURE_MS
      this.manager.stopCapturing()
    }
  }

  undo(): void {
    this.manager.undo()
  }

  redo(): void {
    this.manager.redo()
  }

  destroy(): void {
    this.manager.destroy()
  }
}
