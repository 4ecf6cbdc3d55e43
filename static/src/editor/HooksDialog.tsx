// Webhooks of a workflow: make one (its secret is shown once, with a request to copy), rename it,
// switch it off and on, change its callback URL, rotate its secret, delete it, and read its
// delivery log. Viewers read the list and the logs.

import { useCallback, useEffect, useState, type FormEvent } from 'react'
import type * as Y from 'yjs'

import { api, type Delivery, type Hook, type HookCreated, type Page } from '../api'
import { Alert, dateTime, Dialog, errorText, shortTime, useListOf, useNotify } from '../ui'
import { plainData, roots } from './doc'

export interface WorkflowInput {
  name: string
  /** A required input has no text of its own on its node to fall back on. */
  required: boolean
}

/** The inputs an API or webhook run may fill: Text nodes that carry an input name. */
export function workflowInputs(doc: Y.Doc): WorkflowInput[] {
  const found = new Map<string, boolean>()
  roots(doc).nodes.forEach((entry) => {
    if (entry.get('type') !== 'text') return
    const data = plainData(entry.get('data'))
    const name = typeof data.input_name === 'string' ? data.input_name : ''
    if (!name) return
    const required = !(typeof data.text === 'string' && data.text.trim())
    found.set(name, (found.get(name) ?? false) || required)
  })
  return [...found].map(([name, required]) => ({ name, required })).sort((a, b) => a.name.localeCompare(b.name))
}

/** A copy-paste request that starts a run through `url`, in the bearer form. */
export function curlExample(url: string, secret: string | null, inputs: WorkflowInput[]): string {
  const body = JSON.stringify({ inputs: Object.fromEntries(inputs.map((input) => [input.name, '…'])) })
  return [
    `curl -X POST '${url}?wait=10' \\`,
    `  -H 'Authorization: Bearer ${secret ?? '$GALAXY_HOOK_SECRET'}' \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -d '${body}'`,
  ].join('\n')
}

function useInputs(doc: Y.Doc): WorkflowInput[] {
  const [inputs, setInputs] = useState(() => workflowInputs(doc))
  useEffect(() => {
    const read = () => setInputs(workflowInputs(doc))
    doc.on('update', read)
    return () => doc.off('update', read)
  }, [doc])
  return inputs
}

function CopyButton({ text, label }: { text: string; label: string }) {
  const notify = useNotify()
  async function copy() {
    try {
      await navigator.clipboard.writeText(text)
      notify('Copied.')
    } catch {
      notify('The browser did not allow copying: select the text and copy it.', { bad: true })
    }
  }
  return (
    <button type="button" className="small" aria-label={label} onClick={copy}>
      Copy
    </button>
  )
}

interface HooksDialogProps {
  workflowId: string
  doc: Y.Doc
  canEdit: boolean
  onOpenRun: (runId: string) => void
  onClose: () => void
}

export function HooksDialog({ workflowId, doc, canEdit, onOpenRun, onClose }: HooksDialogProps) {
  const [fresh, setFresh] = useState<HookCreated | null>(null)
  const [log, setLog] = useState<Hook | null>(null)
  const inputs = useInputs(doc)
  const base = `/api/workflows/${workflowId}/hooks`
  const { items: hooks, error, act } = useListOf<Hook>(base)

  function create(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const form = event.currentTarget
    const data = new FormData(form)
    void act(async () => {
      const made = await api<HookCreated>('POST', base, { name: String(data.get('name')).trim(), callback_url: String(data.get('callback_url')).trim() })
      setFresh(made)
      form.reset()
    })
  }

  if (log) return <DeliveryLog hook={log} onBack={() => setLog(null)} onOpenRun={(id) => (onClose(), onOpenRun(id))} onClose={onClose} />
  return (
    <Dialog title="Webhooks" onClose={onClose} wide>
      <p className="muted small">
        A webhook starts this workflow from another system: a form, a CRM, a CI job. Requests fill the workflow’s inputs, and each run appears in the history.
      </p>
      <InputsNote inputs={inputs} />
      <Alert error={error} />
      {fresh && <SecretNote hook={fresh} inputs={inputs} onDone={() => setFresh(null)} />}
      {hooks === null ? (
        <p className="muted">Loading…</p>
      ) : hooks.length === 0 ? (
        <p className="muted small">No webhooks yet.</p>
      ) : (
        <ul className="hook-list" aria-label="Webhooks of this workflow">
          {hooks.map((hook) => (
            <HookItem
              key={hook.id}
              hook={hook}
              canEdit={canEdit}
              act={act}
              onRotated={setFresh}
              onLog={() => setLog(hook)}
              onDeleted={() => fresh?.id === hook.id && setFresh(null)}
            />
          ))}
        </ul>
      )}
      {canEdit && (
        <form className="hook-create" onSubmit={create} aria-label="New webhook">
          <h3>New webhook</h3>
          <div className="hook-fields">
            <label className="field">
              Name
              <input name="name" required maxLength={200} placeholder="Signup form" />
            </label>
            <label className="field">
              Callback URL (optional)
              <input name="callback_url" type="url" maxLength={2000} placeholder="https://example.com/galaxy-finished" />
            </label>
          </div>
          <div className="row">
            <span className="muted small grow">The callback receives every finished run of this webhook, signed with its secret.</span>
            <button type="submit" className="primary">
              Create webhook
            </button>
          </div>
        </form>
      )}
    </Dialog>
  )
}

function InputsNote({ inputs }: { inputs: WorkflowInput[] }) {
  if (!inputs.length)
    return <p className="notice">This workflow has no inputs yet. Give a Text node an input name and requests can fill its text.</p>
  return (
    <p className="notice hook-inputs" aria-label="Inputs">
      Inputs:{' '}
      {inputs.map((input, i) => (
        <span key={input.name}>
          {i > 0 && ', '}
          <code>{input.name}</code>
          {input.required && <span className="faint"> (required)</span>}
        </span>
      ))}
    </p>
  )
}

function SecretNote({ hook, inputs, onDone }: { hook: HookCreated; inputs: WorkflowInput[]; onDone: () => void }) {
  const example = curlExample(hook.url, hook.secret, inputs)
  return (
    <div className="secret-note" role="region" aria-label="New secret">
      <div className="row">
        <strong className="grow">Secret of “{hook.name}”</strong>
        <button type="button" className="small ghost" onClick={onDone}>
          Done
        </button>
      </div>
      <p className="small">
        Copy it now: it is not shown again.
        {hook.previous_secret_valid_until && ` The previous secret keeps working until ${dateTime(hook.previous_secret_valid_until)}.`}
      </p>
      <div className="copy-line">
        <code data-secret>{hook.secret}</code>
        <CopyButton text={hook.secret} label="Copy the secret" />
      </div>
      <div className="row">
        <span className="small muted grow">Try it. Requests signed the Standard Webhooks way work too, with the same secret.</span>
        <CopyButton text={example} label="Copy the example request" />
      </div>
      <pre className="example-request" aria-label="Example request">
        {example}
      </pre>
    </div>
  )
}

interface HookItemProps {
  hook: Hook
  canEdit: boolean
  act: (action: () => Promise<unknown>) => Promise<boolean>
  onRotated: (hook: HookCreated) => void
  onLog: () => void
  onDeleted: () => void
}

function HookItem({ hook, canEdit, act, onRotated, onLog, onDeleted }: HookItemProps) {
  const [editing, setEditing] = useState(false)
  const [deleting, setDeleting] = useState(false)
  const path = `/api/hooks/${hook.id}`

  function save(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const data = new FormData(event.currentTarget)
    const change = { name: String(data.get('name')).trim(), callback_url: String(data.get('callback_url')).trim() }
    void act(() => api('PATCH', path, change)).then((done) => done && setEditing(false))
  }

  return (
    <li className="hook" data-hook={hook.id} data-enabled={hook.enabled}>
      {editing ? (
        <form className="hook-edit" onSubmit={save} aria-label={`Edit ${hook.name}`}>
          <div className="hook-fields">
            <label className="field">
              Name
              <input name="name" required maxLength={200} defaultValue={hook.name} />
            </label>
            <label className="field">
              Callback URL (optional)
              <input name="callback_url" type="url" maxLength={2000} defaultValue={hook.callback_url} />
            </label>
          </div>
          <div className="row end">
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
            <button type="submit" className="primary">
              Save
            </button>
          </div>
        </form>
      ) : (
        <>
          <div className="row">
            <strong className="hook-name grow">{hook.name}</strong>
            <span className={hook.enabled ? 'badge on' : 'badge'}>{hook.enabled ? 'On' : 'Off'}</span>
          </div>
          <div className="copy-line">
            <code>{hook.url}</code>
            <CopyButton text={hook.url} label={`Copy the URL of ${hook.name}`} />
          </div>
          <p className="muted small">
            {hook.created_by ? `Made by ${hook.created_by.name}` : 'Made'} on {dateTime(hook.created_at)}
            {hook.rotated_at && ` · secret rotated ${dateTime(hook.rotated_at)}`}
            {hook.previous_secret_valid_until && ` · the previous secret works until ${dateTime(hook.previous_secret_valid_until)}`}
          </p>
          {hook.callback_url && (
            <p className="muted small">
              Finished runs go to <code>{hook.callback_url}</code>
            </p>
          )}
          {deleting ? (
            <div className="row confirm" role="alert">
              <span className="grow small">Delete “{hook.name}”? Its URL stops working at once.</span>
              <button className="small" onClick={() => setDeleting(false)}>
                Keep
              </button>
              <button className="small danger solid" onClick={() => void act(() => api('DELETE', path)).then((done) => done && onDeleted())}>
                Delete
              </button>
            </div>
          ) : (
            <div className="row hook-actions">
              <button className="small" onClick={onLog}>
                Deliveries
              </button>
              {canEdit && (
                <>
                  <button className="small" onClick={() => void act(() => api('PATCH', path, { enabled: !hook.enabled }))}>
                    {hook.enabled ? 'Turn off' : 'Turn on'}
                  </button>
                  <button className="small" onClick={() => setEditing(true)}>
                    Edit
                  </button>
                  <button className="small" onClick={() => void act(async () => onRotated(await api<HookCreated>('POST', `${path}/rotate`)))}>
                    Rotate secret
                  </button>
                  <span className="spacer" />
                  <button className="small ghost danger" aria-label={`Delete ${hook.name}`} onClick={() => setDeleting(true)}>
                    Delete
                  </button>
                </>
              )}
            </div>
          )}
        </>
      )}
    </li>
  )
}

const REFRESH_MS = 3000

const OUTCOME_TONE: Record<string, string> = {
  accepted: 'ok',
  delivered: 'ok',
  duplicate: 'quiet',
  retrying: 'warn',
  rejected: 'bad',
  failed: 'bad',
  refused: 'bad',
}

function DeliveryLog({ hook, onBack, onOpenRun, onClose }: { hook: Hook; onBack: () => void; onOpenRun: (runId: string) => void; onClose: () => void }) {
  const [items, setItems] = useState<Delivery[] | null>(null)
  const [cursor, setCursor] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const path = `/api/hooks/${hook.id}/deliveries`

  const read = useCallback(
    async (after: string | null) => {
      setError(null)
      try {
        const page = await api<Page<Delivery>>('GET', after ? `${path}?cursor=${encodeURIComponent(after)}` : path)
        setItems((list) => (after && list ? [...list, ...page.items] : page.items))
        setCursor(page.next_cursor)
      } catch (e) {
        setError(errorText(e))
      }
    },
    [path],
  )
  // While the log is open, what arrives meanwhile is added on top (older pages already shown stay).
  const refresh = useCallback(async () => {
    try {
      const page = await api<Page<Delivery>>('GET', path)
      setItems((list) => {
        if (!list) return page.items
        const known = new Set(list.map((d) => d.id))
        const fresh = page.items.filter((d) => !known.has(d.id))
        return fresh.length ? [...fresh, ...list] : list
      })
    } catch {
      // The next refresh tries again; an explicit read shows the error.
    }
  }, [path])
  useEffect(() => {
    void read(null)
    const timer = window.setInterval(() => document.visibilityState === 'visible' && void refresh(), REFRESH_MS)
    return () => window.clearInterval(timer)
  }, [read, refresh])

  return (
    <Dialog title={`Deliveries of ${hook.name}`} onClose={onClose} wide>
      <div className="row">
        <button className="ghost small" onClick={onBack}>
          ← Webhooks
        </button>
        <span className="spacer" />
        <button className="small" onClick={() => void refresh()}>
          Refresh
        </button>
      </div>
      <Alert error={error} />
      {items === null ? (
        <p className="muted">Loading…</p>
      ) : items.length === 0 ? (
        <p className="muted small">Nothing has arrived at this webhook yet.</p>
      ) : (
        <table className="delivery-log" aria-label="Deliveries">
          <thead>
            <tr>
              <th>When</th>
              <th>What</th>
              <th>Outcome</th>
              <th className="num">HTTP</th>
              <th className="num">Took</th>
              <th>Address</th>
              <th>Run</th>
            </tr>
          </thead>
          <tbody>
            {items.map((d) => (
              <tr key={d.id} data-outcome={d.outcome}>
                <td>{shortTime(d.received_at)}</td>
                <td>{d.kind === 'intake' ? 'Request' : `Callback${d.attempt > 1 ? ` #${d.attempt}` : ''}`}</td>
                <td>
                  <span className={`outcome ${OUTCOME_TONE[d.outcome] ?? 'quiet'}`}>{d.outcome}</span>
                  {d.reason && <span className="reason small muted">{d.reason}</span>}
                </td>
                <td className="num">{d.status_code || '–'}</td>
                <td className="num">{d.latency_ms} ms</td>
                <td className="address" title={d.address}>
                  {d.address}
                </td>
                <td>
                  {d.run_id ? (
                    <button className="small ghost" onClick={() => onOpenRun(d.run_id!)}>
                      Open
                    </button>
                  ) : (
                    <span className="faint">–</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor && (
        <button className="small" onClick={() => void read(cursor)}>
          Show older
        </button>
      )}
    </Dialog>
  )
}
