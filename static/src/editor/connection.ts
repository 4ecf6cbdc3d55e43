// One workflow's live document: Yjs over the server's y-websocket endpoint, kept in IndexedDB
// so that edits made offline survive a reload and merge when the socket comes back.

import * as decoding from 'lib0/decoding'
import { IndexeddbPersistence } from 'y-indexeddb'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'

export type LinkState = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'closed'

export interface CloseInfo {
  /** The socket will not be retried: the person must do something (sign in, ask for access). */
  final: boolean
  message: string
}

/** A close code from the server (ARCHITECTURE.md, "Collaboration, as built") as words. */
export function describeClose(code: number, reason: string): CloseInfo | null {
  switch (code) {
    case 4401:
      return { final: true, message: 'Your session has ended. Sign in again to keep editing.' }
    case 4403:
      return reason.includes('member')
        ? { final: true, message: 'You no longer have access to this workflow: its owner removed you.' }
        : { final: true, message: 'This page may not open the workflow from another site.' }
    case 4404:
      return reason.includes('deleted')
        ? { final: true, message: 'This workflow was deleted by its owner.' }
        : { final: true, message: 'This workflow does not exist, or it is not shared with you.' }
    case 1009:
      return { final: false, message: 'A change was too large to send to the server; it is kept on this device. Reconnecting…' }
    case 1003:
    case 1007:
      return { final: false, message: 'The server refused a message it could not read. Reconnecting…' }
    case 1011:
      return { final: false, message: 'The server hit an error. Reconnecting…' }
    case 1012:
      return { final: false, message: 'The server is restarting. Reconnecting…' }
    case 4429:
      return {
        final: true,
        message: 'The server stopped accepting changes from this tab: they kept breaking a workflow limit. Reload to continue.',
      }
    case 1013:
      return { final: false, message: reason ? `The server is busy (${reason}). Reconnecting…` : 'The server is busy. Reconnecting…' }
    default:
      return code >= 4400 && code < 4500 ? { final: true, message: reason || `The server closed the connection (${code}).` } : null
  }
}

/** A refusal the server sent as an auth message, as words. */
export function describeRefusal(reason: string): string {
  if (reason.startsWith('read-only')) return 'You can only view this workflow: your change was not saved.'
  if (reason.startsWith('node limit')) return `Too many nodes: ${reason.slice('node limit: '.length)}.`
  if (reason.startsWith('document size limit')) return `This workflow is too large: ${reason.slice('document size limit: '.length)}.`
  return `The server refused a change: ${reason}.`
}

export interface LinkEvents {
  state: (state: LinkState, detail: string | null) => void
  refused: (message: string, readOnly: boolean) => void
  text: (data: string) => void
}

/** Run events arrive as JSON text frames on the same socket; y-websocket reads only binary ones. */
function socketClass(onText: (data: string) => void): typeof WebSocket {
  return class GalaxySocket extends WebSocket {
    set onmessage(handler: ((event: MessageEvent) => void) | null) {
      super.onmessage = handler && ((event: MessageEvent) => (typeof event.data === 'string' ? onText(event.data) : handler(event)))
    }
    get onmessage(): ((event: MessageEvent) => void) | null {
      return super.onmessage
    }
  }
}

export class Link {
  readonly doc = new Y.Doc()
  readonly provider: WebsocketProvider
  readonly persistence: IndexeddbPersistence
  state: LinkState = 'connecting'
  private detail: string | null = null
  private wasConnected = false

  constructor(workflowId: string, userId: string, private events: LinkEvents) {
    this.persistence = new IndexeddbPersistence(`galaxy:${userId}:${workflowId}`, this.doc)
    const base = `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/ws/workflows`
    this.provider = new WebsocketProvider(base, workflowId, this.doc, {
      WebSocketPolyfill: socketClass((data) => this.events.text(data)),
      disableBc: true,
    })
    this.provider.messageHandlers[2] = (_encoder, decoder) => {
      // y-protocols auth message: varUint 0 (permission denied) + reason.
      const kind = decoding.readVarUint(decoder)
      const reason = kind === 0 ? decoding.readVarString(decoder) : ''
      this.events.refused(describeRefusal(reason), reason.startsWith('read-only'))
    }
    this.provider.on('status', ({ status }) => {
      if (status === 'connected') {
        this.wasConnected = true
        this.set('connected', null)
      } else if (status === 'connecting') {
        this.set(this.wasConnected || this.detail ? 'reconnecting' : 'connecting', this.detail)
      }
    })
    this.provider.on('connection-close', (event) => {
      const info = event ? describeClose(event.code, event.reason) : null
      if (info?.final) this.set('closed', info.message)
      else this.set(navigator.onLine ? 'reconnecting' : 'offline', info?.message ?? null)
    })
    window.addEventListener('offline', this.onOffline)
    window.addEventListener('online', this.onOnline)
  }

  private onOffline = () => this.state !== 'closed' && this.set('offline', null)
  private onOnline = () => this.state === 'offline' && this.set('reconnecting', null)

  private set(state: LinkState, detail: string | null): void {
    if (this.state === 'closed' && state !== 'connected') return
    this.state = state
    this.detail = detail
    this.events.state(state, detail)
  }

  get awareness() {
    return this.provider.awareness
  }

  /** Forget what this device kept (after a refused edit) so the next load is the server's. */
  async forgetLocal(): Promise<void> {
    await this.persistence.clearData()
  }

  destroy(): void {
    window.removeEventListener('offline', this.onOffline)
    window.removeEventListener('online', this.onOnline)
    this.awareness.setLocalState(null)
    this.provider.destroy()
    void this.persistence.destroy()
    this.doc.destroy()
  }
}
