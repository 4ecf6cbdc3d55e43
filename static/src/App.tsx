import { useCallback, useEffect, useState, type FormEvent } from 'react'

import { api, ApiError, setCsrfToken, type Page, type User, type WorkflowSummary } from './api'

// Placeholder shell until the canvas editor lands: sign in / sign up, list and create workflows.

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function ErrorBox({ error }: { error: string | null }) {
  return error ? (
    <p className="error" role="alert">
      {error}
    </p>
  ) : null
}

export function App() {
  const path = window.location.pathname
  return (
    <>
      <header>
        <h1>
          <a href="/">Galaxy</a>
        </h1>
      </header>
      <main>{path.startsWith('/w/') ? <WorkflowPlaceholder id={decodeURIComponent(path.slice(3).split('/')[0])} /> : <Home />}</main>
      <footer>
        <a href="/schema">API docs</a>
      </footer>
    </>
  )
}

function WorkflowPlaceholder({ id }: { id: string }) {
  return (
    <p>
      Workflow {id}: the canvas editor is coming. <a href="/">Back to workflows</a>
    </p>
  )
}

function Home() {
  // undefined while loading, null when signed out.
  const [me, setMe] = useState<User | null | undefined>(undefined)
  const [error, setError] = useState<string | null>(null)

  const loadMe = useCallback(async () => {
    try {
      const user = await api<User>('GET', '/api/auth/me')
      setCsrfToken(user.csrf_token)
      setMe(user)
      setError(null)
    } catch (e) {
      setCsrfToken(null)
      setMe(null)
      if (!(e instanceof ApiError && e.status === 401)) setError(errorText(e))
    }
  }, [])

  useEffect(() => {
    void loadMe()
  }, [loadMe])

  if (me === undefined) return <p>Loading…</p>
  if (me === null) {
    return (
      <>
        <ErrorBox error={error} />
        <AuthForm title="Sign in" path="/api/auth/login" onDone={loadMe} />
        <AuthForm title="Sign up" path="/api/auth/signup" withName onDone={loadMe} />
      </>
    )
  }
  return (
    <SignedIn
      me={me}
      onSignedOut={() => {
        setCsrfToken(null)
        setMe(null)
      }}
    />
  )
}

function AuthForm(props: { title: string; path: string; withName?: boolean; onDone: () => Promise<void> }) {
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const form = new FormData(event.currentTarget)
    const body: Record<string, string> = { email: String(form.get('email')), password: String(form.get('password')) }
    if (props.withName) body.name = String(form.get('name'))
    setBusy(true)
    setError(null)
    try {
      const answer = await api<{ csrf_token?: string } | undefined>('POST', props.path, body)
      if (answer?.csrf_token) setCsrfToken(answer.csrf_token)
      await props.onDone()
    } catch (e) {
      setError(errorText(e))
    } finally {
      setBusy(false)
    }
  }

  return (
    <form onSubmit={submit} aria-label={props.title}>
      <h2>{props.title}</h2>
      {props.withName && <input name="name" placeholder="Name" autoComplete="name" required />}
      <input name="email" type="email" placeholder="Email" autoComplete="email" required />
      <input
        name="password"
        type="password"
        placeholder="Password"
        autoComplete={props.withName ? 'new-password' : 'current-password'}
        required
      />
      <button type="submit" disabled={busy}>
        {props.title}
      </button>
      <ErrorBox error={error} />
    </form>
  )
}

function SignedIn({ me, onSignedOut }: { me: User; onSignedOut: () => void }) {
  const [workflows, setWorkflows] = useState<WorkflowSummary[] | null>(null)
  const [error, setError] = useState<string | null>(null)

  const loadWorkflows = useCallback(async () => {
    try {
      const page = await api<Page<WorkflowSummary>>('GET', '/api/workflows')
      setWorkflows(page.items)
    } catch (e) {
      setError(errorText(e))
    }
  }, [])

  useEffect(() => {
    void loadWorkflows()
  }, [loadWorkflows])

  async function run(action: () => Promise<void>) {
    setError(null)
    try {
      await action()
    } catch (e) {
      setError(errorText(e))
    }
  }

  const create = () =>
    run(async () => {
      await api('POST', '/api/workflows', { name: 'Untitled workflow' })
      await loadWorkflows()
    })

  const signOut = () =>
    run(async () => {
      await api('POST', '/api/auth/logout')
      onSignedOut()
    })

  return (
    <>
      <p>
        Signed in as {me.name} <button onClick={signOut}>Sign out</button>
      </p>
      <ErrorBox error={error} />
      <h2>Workflows</h2>
      <button onClick={create}>New workflow</button>
      {workflows === null ? (
        <p>Loading…</p>
      ) : workflows.length === 0 ? (
        <p>No workflows yet.</p>
      ) : (
        <ul>
          {workflows.map((w) => (
            <li key={w.id}>
              <a href={`/w/${encodeURIComponent(w.id)}`}>{w.name}</a>{' '}
              <small>
                {w.role} · updated {new Date(w.updated_at).toLocaleString()}
              </small>
            </li>
          ))}
        </ul>
      )}
    </>
  )
}
