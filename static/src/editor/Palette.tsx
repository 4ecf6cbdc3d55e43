// The left sidebar: one entry per node type from `GET /api/node-types`. Click adds the node at
// the centre of the view; dragging drops it where it is released.

import { useMemo, useState } from 'react'

import { PALETTE_MIME } from './Canvas'
import { NodeIcon } from './icons'
import type { NodeSpec } from './specs'

const CATEGORY_NAMES: Record<string, string> = { inputs: 'Inputs', ai: 'AI', image: 'Image', video: 'Video' }

export function Palette({ specs, disabled, onAdd }: { specs: NodeSpec[]; disabled: boolean; onAdd: (spec: NodeSpec) => void }) {
  const [open, setOpen] = useState(true)
  const [query, setQuery] = useState('')
  const groups = useMemo(() => {
    const q = query.trim().toLowerCase()
    const found = specs.filter((s) => !q || `${s.label} ${s.description} ${s.type}`.toLowerCase().includes(q))
    const byCategory = new Map<string, NodeSpec[]>()
    for (const spec of found) byCategory.set(spec.category, [...(byCategory.get(spec.category) ?? []), spec])
    return [...byCategory.entries()]
  }, [specs, query])

  if (!open) {
    return (
      <nav className="palette collapsed" aria-label="Nodes">
        <button className="ghost icon" aria-label="Show the node list" aria-expanded={false} onClick={() => setOpen(true)} title="Show nodes">
          »
        </button>
      </nav>
    )
  }
  return (
    <nav className="palette" aria-label="Nodes">
      <div className="palette-head">
        <h2>Nodes</h2>
        <button className="ghost icon small" aria-label="Hide the node list" aria-expanded onClick={() => setOpen(false)} title="Hide nodes">
          «
        </button>
      </div>
      <input type="search" placeholder="Search nodes" aria-label="Search nodes" value={query} onChange={(e) => setQuery(e.target.value)} />
      {disabled && <p className="notice">You can view this workflow but not add nodes.</p>}
      <div className="palette-list">
        {groups.length === 0 && <p className="muted small">No node matches “{query}”.</p>}
        {groups.map(([category, list]) => (
          <section key={category}>
            <h3 className="palette-group">{CATEGORY_NAMES[category] ?? category}</h3>
            {list.map((spec) => (
              <button
                key={spec.type}
                className="palette-item"
                data-node-type={spec.type}
                disabled={disabled}
                draggable={!disabled}
                aria-label={`Add ${spec.label}`}
                title={spec.description}
                onClick={() => onAdd(spec)}
                onDragStart={(e) => {
                  e.dataTransfer.setData(PALETTE_MIME, spec.type)
                  e.dataTransfer.effectAllowed = 'copy'
                }}
              >
                <span className="palette-icon">
                  <NodeIcon type={spec.type} category={spec.category} />
                </span>
                <span className="palette-text">
                  <span className="palette-label">{spec.label}</span>
                  <span className="palette-desc">{spec.description}</span>
                </span>
              </button>
            ))}
          </section>
        ))}
      </div>
    </nav>
  )
}
