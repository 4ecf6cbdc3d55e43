import { useCallback, useEffect, useState } from 'react'

import { api, ApiError, setCsrfToken, type User } from './api'
import { AuthPage } from './pages/AuthPage'
import { WorkflowsPage } from './pages/WorkflowsPage'
import { navigate, usePath, workflowIdOf } from './router'
import { Alert, errorText, Toasts } from './ui'

// The canvas (React Flow, Yjs) is its own chunk: the sign-in page does not load it. Opened on a
// canvas address, the chunk starts loading at once, alongside the sign-in check. It is rendered
// without Suspense: React holds content that resolves soon after a fallback was shown back for
// 300 ms, which a canvas whose chunk had long arrived paid on every load.
type EditorModule = typeof import('./editor/EditorPage')
let editorModule: EditorModule | null = null
const loadEditor = () => import('./editor/EditorPage').then((loaded) => (editorModule = loaded))
if (workflowIdOf(window.location.pathname)) void loadEditor()

function useEditorModule(wanted: boolean): EditorModule | null {
  const [loaded, setLoaded] = useState(editorModule)
  const [error, setError] = useState<unknown>(null)
  useEffect(() => {
    if (wanted && !loaded) loadEditor().then(setLoaded, setError)
  }, [wanted, loaded])
  if (error) throw error
  return loaded
}

/** Drop the workflows this browser kept for offline editing (`galaxy:{user}:{workflow}`). */
async function forgetDevice(userId: string): Promise<void> {
  const databases = (await indexedDB.databases?.()) ?? []
  for (const { name } of databases) if (name?.startsWith(`galaxy:${userId}:`)) indexedDB.deleteDatabase(name)
}

export function App() {
  const path = usePath()
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

  const signOut = useCallback(async () => {
    await api('POST', '/api/auth/logout')
    if (me) await forgetDevice(me.id)
    setCsrfToken(null)
    setMe(null)
    navigate('/')
  }, [me])

  const workflowId = workflowIdOf(path)
  const editor = useEditorModule(Boolean(me && workflowId))
  let page
  if (me === undefined) page = <div className="auth muted">Loading…</div>
  else if (me === null) page = <AuthPage onSignedIn={loadMe} error={error} />
  else if (workflowId)
    page = editor ? <editor.default key={workflowId} workflowId={workflowId} me={me} /> : <div className="auth muted">Opening the canvas…</div>
  else if (path === '/') page = <WorkflowsPage me={me} onSignOut={signOut} />
  else
    page = (
      <div className="page">
        <Alert error="There is no page at this address." />
        <a href="/" onClick={(e) => (e.preventDefault(), navigate('/'))}>
          Back to your workflows
        </a>
      </div>
    )
  return <Toasts>{page}</Toasts>
}
