// Who else is here: avatars, live cursors in flow coordinates, and the nodes they selected.

import { useStore, type ReactFlowState } from '@xyflow/react'
import { useEffect, useState } from 'react'
import { createPortal } from 'react-dom'
import type { Awareness } from 'y-protocols/awareness'

import type { XY } from './doc'

export interface Peer {
  clientId: number
  user: { id: string; name: string; color: string }
  cursor: XY | null
  selection: string[]
}

function asPeer(clientId: number, state: Record<string, unknown>): Peer | null {
  const user = state.user as Peer['user'] | undefined
  if (!user || typeof user.name !== 'string') return null
  const cursor = state.cursor as XY | null | undefined
  const selection = Array.isArray(state.selection) ? (state.selection as unknown[]).filter((s): s is string => typeof s === 'string') : []
  return {
    clientId,
    user: { id: String(user.id), name: user.name, color: typeof user.color === 'string' && /^#[0-9a-fA-F]{3,8}$/.test(user.color) ? user.color : '#8a93a6' },
    cursor: cursor && Number.isFinite(cursor.x) && Number.isFinite(cursor.y) ? cursor : null,
    selection,
  }
}

/** Everyone else on this workflow (other tabs of the same person included). */
export function usePeers(awareness: Awareness): Peer[] {
  const [peers, setPeers] = useState<Peer[]>([])
  useEffect(() => {
    const read = () => {
      const list: Peer[] = []
      awareness.getStates().forEach((state, clientId) => {
        if (clientId === awareness.clientID) return
        const peer = asPeer(clientId, state)
        if (peer) list.push(peer)
      })
      setPeers(list)
    }
    // My own cursor changes every frame while I move: that is no news to this hook.
    const onChange = ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }) => {
      if ([...added, ...updated, ...removed].some((id) => id !== awareness.clientID)) read()
    }
    read()
    awareness.on('change', onChange)
    return () => awareness.off('change', onChange)
  }, [awareness])
  return peers
}

/**
 * The latest `members` stamp of the others: an owner's share dialog sets it to the time it
 * last changed who may do what, and each editor then re-reads its own role.
 */
export function useMembersStamp(awareness: Awareness): number {
  const [stamp, setStamp] = useState(0)
  useEffect(() => {
    const read = () => {
      let latest = 0
      awareness.getStates().forEach((state, clientId) => {
        if (clientId !== awareness.clientID && typeof state.members === 'number') latest = Math.max(latest, state.members)
      })
      setStamp(latest)
    }
    read()
    awareness.on('change', read)
    return () => awareness.off('change', read)
  }, [awareness])
  return stamp
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/)
  return ((parts[0]?.[0] ?? '?') + (parts.length > 1 ? parts[parts.length - 1][0] : '')).toUpperCase()
}

export function Avatars({ awareness, me }: { awareness: Awareness; me: { name: string } }) {
  const peers = usePeers(awareness)
  const seen = new Set<string>()
  const people = peers.filter((p) => !seen.has(p.user.id) && seen.add(p.user.id))
  return (
    <div className="avatars" aria-label={`${people.length + 1} people here`}>
      <span className="avatar me" title={`${me.name} (you)`}>
        {initials(me.name)}
      </span>
      {people.slice(0, 6).map((p) => (
        <span key={p.user.id} className="avatar" style={{ background: p.user.color }} title={p.user.name} data-user={p.user.name}>
          {initials(p.user.name)}
        </span>
      ))}
      {people.length > 6 && <span className="avatar more">+{people.length - 6}</span>}
    </div>
  )
}

const zoomOf = (s: { transform: [number, number, number] }) => s.transform[2]
const domNodeOf = (s: ReactFlowState) => s.domNode

/**
 * Cursors live in flow coordinates, so they point at the same spot at any zoom or pan. They are
 * drawn in React Flow's viewport layer, found once: its own ViewportPortal looks the layer up
 * with a querySelector on every change of the flow's state, every frame of a pan.
 */
export function Cursors({ awareness }: { awareness: Awareness }) {
  const peers = usePeers(awareness)
  const zoom = useStore(zoomOf)
  const domNode = useStore(domNodeOf)
  const [layer, setLayer] = useState<Element | null>(null)
  useEffect(() => setLayer(domNode?.querySelector('.react-flow__viewport-portal') ?? null), [domNode])
  if (!layer) return null
  return createPortal(
    <>
      {peers.map(
        (p) =>
          p.cursor && (
            <div
              key={p.clientId}
              className="cursor"
              data-user={p.user.name}
              style={{ transform: `translate(${p.cursor.x}px, ${p.cursor.y}px) scale(${1 / zoom})`, color: p.user.color }}
            >
              <svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">
                <path d="M1 1l5.5 14 2-6 6-2z" fill="currentColor" stroke="#0e1015" strokeWidth="1" />
              </svg>
              <span className="cursor-name" style={{ background: p.user.color }}>
                {p.user.name}
              </span>
            </div>
          ),
      )}
    </>,
    layer,
  )
}

/** Others' selections as outlines in their colour: CSS, so no node re-renders for it. */
export function SelectionOutlines({ awareness }: { awareness: Awareness }) {
  const peers = usePeers(awareness)
  const rules: string[] = []
  for (const p of peers) {
    for (const id of p.selection) {
      const selector = `.react-flow__node[data-id="${CSS.escape(id)}"] > .node`
      rules.push(`${selector}{outline:2px solid ${p.user.color};outline-offset:3px}`)
    }
  }
  return <style>{rules.join('\n')}</style>
}
