// Dialogs and side panels of the canvas page: sharing, version history, keyboard shortcuts.

import { useEffect, useState, type FormEvent } from 'react'

import { api, type Member, type Role, type Version } from '../api'
import { Alert, dateTime, Dialog, useListOf, useNotify } from '../ui'

export function ShareDialog(props: { workflowId: string; role: Role; onClose: () => void; onChanged: () => void }) {
  const owner = props.role === 'owner'
  const base = `/api/workflows/${props.workflowId}/members`
  const { items: members, error, act } = useListOf<Member>(base, props.onChanged)

  function invite(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const form = event.currentTarget
    const data = new FormData(form)
    void act(async () => {
      await api('POST', base, { email: String(data.get('email')).trim(), role: String(data.get('role')) })
      form.reset()
    })
  }

  return (
    <Dialog title={owner ? 'Share workflow' : 'People on this workflow'} onClose={props.onClose}>
      {owner && (
        <form className="share-invite" onSubmit={invite} aria-label="Invite">
          <input name="email" type="email" required placeholder="Email of a Galaxy user" aria-label="Email to invite" />
          <select name="role" aria-label="Role for the invited person" defaultValue="editor">
            <option value="editor">Can edit</option>
            <option value="viewer">Can view</option>
          </select>
          <button type="submit" className="primary">
            Invite
          </button>
        </form>
      )}
      <Alert error={error} />
      {members === null ? (
        <p className="muted">Loading…</p>
      ) : (
        <ul className="member-list" aria-label="Members">
          {members.map((m) => (
            <li key={m.user_id} data-email={m.email}>
              <span className="member-who">
                <strong>{m.name}</strong>
                <span className="muted small">{m.email}</span>
              </span>
              {m.role === 'owner' || !owner ? (
                <span className="badge">{m.role}</span>
              ) : (
                <>
                  <select
                    aria-label={`Role of ${m.name}`}
                    value={m.role}
                    onChange={(e) => act(() => api('PATCH', `${base}/${m.user_id}`, { role: e.target.value }))}
                  >
                    <option value="editor">Can edit</option>
                    <option value="viewer">Can view</option>
                  </select>
                  <button className="small ghost danger" aria-label={`Remove ${m.name}`} onClick={() => act(() => api('DELETE', `${base}/${m.user_id}`))}>
                    Remove
                  </button>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
    </Dialog>
  )
}

export function VersionsPanel(props: { workflowId: string; canEdit: boolean }) {
  const [restoring, setRestoring] = useState<Version | null>(null)
  const notify = useNotify()
  const base = `/api/workflows/${props.workflowId}/versions`
  const { items: versions, error, reload, act } = useListOf<Version>(base)
  useEffect(() => {
    const timer = window.setInterval(() => void reload(), 15000)
    return () => window.clearInterval(timer)
  }, [reload])

  function save(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const form = event.currentTarget
    const name = String(new FormData(form).get('name')).trim()
    void act(async () => {
      await api('POST', base, { name })
      form.reset()
      notify(`Saved version “${name}”.`)
    })
  }

  function restore(version: Version) {
    void act(async () => {
      await api('POST', `${base}/${version.id}/restore`)
      setRestoring(null)
      notify(`Restored “${version.name || 'automatic version'}”. Everyone sees it now.`)
    })
  }

  return (
    <section className="panel" aria-label="Version history">
      <h2>Version history</h2>
      {props.canEdit && (
        <form className="row" onSubmit={save} aria-label="Name the current version">
          <input name="name" required maxLength={200} placeholder="Name this version" aria-label="Version name" />
          <button type="submit">Save</button>
        </form>
      )}
      <Alert error={error} />
      {versions === null ? (
        <p className="muted">Loading…</p>
      ) : versions.length === 0 ? (
        <p className="muted small">No versions yet. Versions are saved automatically while people edit, and whenever you name one.</p>
      ) : (
        <ol className="version-list">
          {versions.map((v) => (
            <li key={v.id} data-version={v.name}>
              <div className="version-main">
                <strong>{v.automatic ? 'Automatic' : v.name}</strong>
                <span className="muted small">
                  {dateTime(v.created_at)}
                  {v.author ? ` · ${v.author.name}` : ''} · {v.nodes} nodes, {v.edges} connections
                </span>
              </div>
              {props.canEdit && (
                <button className="small" onClick={() => setRestoring(v)} aria-label={`Restore ${v.automatic ? 'automatic version' : v.name}`}>
                  Restore
                </button>
              )}
            </li>
          ))}
        </ol>
      )}
      {restoring && (
        <Dialog
          title="Restore this version?"
          onClose={() => setRestoring(null)}
          footer={
            <>
              <button onClick={() => setRestoring(null)}>Cancel</button>
              <button className="primary" onClick={() => restore(restoring)}>
                Restore
              </button>
            </>
          }
        >
          <p>
            The canvas goes back to “{restoring.automatic ? 'automatic version' : restoring.name}” from {dateTime(restoring.created_at)} for everyone on it. The current state
            stays in the history only if it was saved as a version.
          </p>
        </Dialog>
      )}
    </section>
  )
}

const SHORTCUTS: [string, string][] = [
  ['Click / Shift+click', 'Select a node / add to the selection'],
  ['Shift+drag', 'Select with a box'],
  ['Delete or Backspace', 'Delete the selection'],
  ['Ctrl/⌘+C, Ctrl/⌘+V', 'Copy and paste the selection with its connections'],
  ['Ctrl/⌘+D', 'Duplicate the selection'],
  ['Ctrl/⌘+A', 'Select everything'],
  ['Ctrl/⌘+Z', 'Undo your last change'],
  ['Ctrl/⌘+Shift+Z or Ctrl/⌘+Y', 'Redo'],
  ['Double-click a node title', 'Rename the node'],
  ['Scroll / drag the background', 'Zoom / pan'],
  ['?', 'Show this list'],
]

export function ShortcutsDialog({ onClose }: { onClose: () => void }) {
  return (
    <Dialog title="Keyboard shortcuts" onClose={onClose}>
      <dl className="shortcuts">
        {SHORTCUTS.map(([keys, what]) => (
          <div key={keys}>
            <dt>
              <kbd>{keys}</kbd>
            </dt>
            <dd>{what}</dd>
          </div>
        ))}
      </dl>
    </Dialog>
  )
}
