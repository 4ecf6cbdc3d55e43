import { useState, type FormEvent } from 'react'

import { api, setCsrfToken } from '../api'
import { Alert, errorText } from '../ui'

type Mode = 'in' | 'up'

export function AuthPage({ onSignedIn, error }: { onSignedIn: () => Promise<void>; error: string | null }) {
  const [mode, setMode] = useState<Mode>('in')
  const [formError, setFormError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  async function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault()
    const form = new FormData(event.currentTarget)
    const body: Record<string, string> = { email: String(form.get('email')), password: String(form.get('password')) }
    if (mode === 'up') body.name = String(form.get('name'))
    setBusy(true)
    setFormError(null)
    try {
      const answer = await api<{ csrf_token?: string } | undefined>('POST', mode === 'up' ? '/api/auth/signup' : '/api/auth/login', body)
      if (answer?.csrf_token) setCsrfToken(answer.csrf_token)
      await onSignedIn()
    } catch (e) {
      setFormError(errorText(e))
    } finally {
      setBusy(false)
    }
  }

  const title = mode === 'up' ? 'Create account' : 'Sign in'
  return (
    <main className="auth">
      <div className="auth-card">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true" /> Galaxy
        </div>
        <p className="muted">Build AI workflows together, live.</p>
        <div className="tabs" role="tablist" aria-label="Account">
          {(['in', 'up'] as const).map((m) => (
            <button key={m} role="tab" aria-selected={mode === m} onClick={() => (setMode(m), setFormError(null))}>
              {m === 'in' ? 'Sign in' : 'Sign up'}
            </button>
          ))}
        </div>
        <Alert error={error} />
        <form className="stack" onSubmit={submit} aria-label={title}>
          {mode === 'up' && (
            <label className="field">
              Name
              <input name="name" autoComplete="name" required maxLength={200} />
            </label>
          )}
          <label className="field">
            Email
            <input name="email" type="email" autoComplete="email" required />
          </label>
          <label className="field">
            Password
            <input name="password" type="password" autoComplete={mode === 'up' ? 'new-password' : 'current-password'} required />
          </label>
          <Alert error={formError} />
          <button type="submit" className="primary" disabled={busy} style={{ justifyContent: 'center' }}>
            {busy ? 'Please wait…' : title}
          </button>
        </form>
      </div>
    </main>
  )
}
