import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react'

import { api, type Page, type User, type WorkflowDetail, type WorkflowSummary } from '../api'
import { navigate } from '../router'
import { Alert, Dialog, errorText, useNotify } from '../ui'

const REFRESH_MS = 5000

function when(stamp: string): string {
  const date = new Date(stamp)
  const minutes = Math.round((Date.now() - date.getTime()) / 60000)
  if (minutes < 1) return 'just now'
  if (minutes < 60) return `${minutes} min ago`
  if (minutes < 60 * 24) return `${Math.round(minutes / 60)} h ago`
  return date.toLocaleDateString()
}

export function WorkflowsPage({ me, onSignOut }: { me: User; onSignOut: () => Promise<void> }) {
  const [items, setItems] = useState<WorkflowSummary[] | null>(null)
  const [cursor, setCursor] = useState<string | null>(null)
  const [pages, setPages] = useState(1)
  const [error, setError] = useState<string | null>(null)
  const [renaming, setRenaming] = useState<WorkflowSummary | null>(null)
  const [deleting, setDeleting] = useState<WorkflowSummary | null>(null)
  const fileInput = useRef<HTMLInputElement>(null)
  const notify = useNotify()

  const load = useCallback(async () => {
    try {
      let all: WorkflowSummary[] = []
      let next: string | null = null
      for (let page = 0; page < pages; page++) {
        const answer: Page<WorkflowSummary> = await api('GET', `/api/workflows?limit=50${next ? `&cursor=${encodeURIComponent(next)}` : ''}`)
        all = all.concat(answer.items)
        next = answer.next_cursor
        if (!next) break
      }
      setItems(all)
      setCursor(next)
    } catch (e) {
      setError(errorText(e))
    }
  }, [pages])

  // The list follows changes made elsewhere (a workflow shared with you appears by itself).
  useEffect(() => {
    void load()
    const timer = window.setInterval(() => document.visibilityState === 'visible' && void load(), REFRESH_MS)
    return () => window.clearInterval(timer)
  }, [load])

  async function act(action: () => Promise<void>) {
    setError(null)
    try {
      await action()
    } catch (e) {
      setError(errorText(e))
    }
  }

  const open = (id: string) => navigate(`/w/${encodeURIComponent(id)}`)
  const create = (template?: string) =>
    act(async () => open((await api<WorkflowDetail>('POST', '/api/workflows', template ? { template } : {})).id))
  const duplicate = (w: WorkflowSummary) =>
    act(async () => {
      await api('POST', `/api/workflows/${w.id}/duplicate`)
      notify(`Copied “${w.name}”.`)
      await load()
    })

  async function importFile(file: File) {
    await act(async () => {
      const created = await api<WorkflowDetail>('POST', '/api/workflows/import', await file.text())
      notify(`Imported “${created.name}”.`)
      await load()
    })
    if (fileInput.current) fileInput.current.value = ''
  }

  return (
    <div className="page">
      <header className="row">
        <a className="brand" href="/">
          <span className="brand-mark" aria-hidden="true" /> Galaxy
        </a>
        <span className="spacer" />
        <span className="muted">{me.name}</span>
        <button onClick={() => act(onSignOut)}>Sign out</button>
      </header>
      <div className="row">
        <h1>Workflows</h1>
        <span className="spacer" />
        <div className="toolbar">
          <button onClick={() => fileInput.current?.click()}>Import JSON…</button>
          <input
            ref={fileInput}
            type="file"
            accept="application/json,.json"
            className="visually-hidden"
            aria-label="Workflow file to import"
            onChange={(e) => e.target.files?.[0] && void importFile(e.target.files[0])}
          />
          <button onClick={() => create('marketing-kit')}>New from template</button>
          <button className="primary" onClick={() => create()}>
            New workflow
          </button>
        </div>
      </div>
      <Alert error={error} />
      {items === null ? (
        <p className="muted">Loading…</p>
      ) : items.length === 0 ? (
        <div className="empty">
          No workflows yet. Start a blank one, or try the <strong>Product Marketing Kit</strong> template.
        </div>
      ) : (
        <ul className="card-list" aria-label="Workflows">
          {items.map((w) => (
            <li key={w.id} className="wf" data-workflow-id={w.id}>
              <div className="wf-main">
                <a className="wf-name" href={`/w/${w.id}`} onClick={(e) => (e.preventDefault(), open(w.id))}>
                  {w.name}
                </a>
                <span className="wf-meta">
                  {w.role === 'owner' ? 'Yours' : `Shared by ${w.owner.name}`} · edited {when(w.updated_at)}
                </span>
              </div>
              {w.role !== 'owner' && <span className="badge">{w.role}</span>}
              <div className="toolbar">
                {w.role !== 'viewer' && (
                  <button className="small ghost" onClick={() => setRenaming(w)} aria-label={`Rename ${w.name}`}>
                    Rename
                  </button>
                )}
                <button className="small ghost" onClick={() => duplicate(w)} aria-label={`Duplicate ${w.name}`}>
                  Duplicate
                </button>
                {w.role === 'owner' && (
                  <button className="small ghost danger" onClick={() => setDeleting(w)} aria-label={`Delete ${w.name}`}>
                    Delete
                  </button>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
      {cursor && (
        <button onClick={() => setPages((n) => n + 1)} style={{ justifySelf: 'center' }}>
          Show more
        </button>
      )}
      {renaming && <RenameDialog workflow={renaming} onClose={() => setRenaming(null)} onDone={load} />}
      {deleting && (
        <Dialog
          title="Delete workflow?"
          onClose={() => setDeleting(null)}
          footer={
            <>
              <button onClick={() => setDeleting(null)}>Cancel</button>
              <button
                className="danger solid"
                onClick={() =>
                  act(async () => {
                    await api('DELETE', `/api/workflows/${deleting.id}`)
                    setDeleting(null)
                    notify(`Deleted “${deleting.name}”.`)
                    await load()
                  })
                }
              >
                Delete
              </button>
            </>
          }
        >
          <p>
            “{deleting.name}” will be deleted for everyone it is shared with. This cannot be undone.
          </p>
        </Dialog>
      )}
    </div>
  )
}

function RenameDialog(props: { workflow: WorkflowSummary; onClose: () => void; onDone: () => Promise<void> }) {
  const [error, setError] = useState<string | null>(null)
  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const name = String(new FormData(event.currentTarget).get('name')).trim()
    try {
      await api('PATCH', `/api/workflows/${props.workflow.id}`, { name })
      await props.onDone()
      props.onClose()
    } catch (e) {
      setError(errorText(e))
    }
  }
  return (
    <Dialog title="Rename workflow" onClose={props.onClose}>
      <form className="stack" onSubmit={submit}>
        <label className="field">
          Name
          <input name="name" defaultValue={props.workflow.name} required maxLength={200} />
        </label>
        <Alert error={error} />
        <footer className="row" style={{ justifyContent: 'flex-end' }}>
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" className="primary">
            Rename
          </button>
        </footer>
      </form>
    </Dialog>
  )
}
