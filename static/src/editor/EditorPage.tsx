// The canvas page `/w/{id}`: header with the run toolbar, node list, canvas and the right
// sidebar (version history and runs), all on the workflow's live Yjs document.

import '@xyflow/react/dist/style.css'
import './editor.css'

import { ReactFlowProvider } from '@xyflow/react'
import { useCallback, useEffect, useMemo, useRef, useState, type RefObject } from 'react'

import { api, ApiError, type Role, type User, type WorkflowDetail } from '../api'
import { navigate } from '../router'
import { Alert, errorText, useNotify } from '../ui'
import { Canvas } from './Canvas'
import { HooksDialog } from './HooksDialog'
import { Link, type LinkState } from './connection'
import { EditorContext, type EditorContextValue } from './context'
import { copySelection, deleteElements, paste, plainData, roots, setName } from './doc'
import { Palette } from './Palette'
import { RunsHistory, RunToolbar, startRun, useProblems, ViewingBanner } from './RunsPanel'
import { RunsContext, RunStore, useRunStore } from './runStore'
import { ShareDialog, ShortcutsDialog, VersionsPanel } from './panels'
import { Avatars, useMembersStamp } from './presence'
import { specMap, type NodeSpec } from './specs'
import { History } from './undo'

const ROLE_POLL_MS = 10000
const SYNC_WAIT_MS = 4000

function useWorkflowName(link: Link): string {
  const meta = roots(link.doc).meta
  const [name, setNameState] = useState(() => String(meta.get('name') ?? ''))
  useEffect(() => {
    const read = () => setNameState(String(meta.get('name') ?? ''))
    read()
    meta.observe(read)
    return () => meta.unobserve(read)
  }, [meta])
  return name
}

const STATE_TEXT: Record<LinkState, string> = {
  connecting: 'Connecting…',
  connected: 'Live',
  reconnecting: 'Reconnecting…',
  offline: 'Offline: changes are kept on this device',
  closed: 'Disconnected',
}

interface Session {
  link: Link
  history: History
  runs: RunStore
  generation: number
}

type Refused = (message: string, readOnly: boolean) => void

export default function EditorPage({ workflowId, me }: { workflowId: string; me: User }) {
  const [detail, setDetail] = useState<WorkflowDetail | null>(null)
  const [specs, setSpecs] = useState<NodeSpec[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [generation, setGeneration] = useState(0)
  const [session, setSession] = useState<Session | null>(null)
  const [linkState, setLinkState] = useState<{ state: LinkState; detail: string | null }>({ state: 'connecting', detail: null })
  const [synced, setSynced] = useState(false)
  const onRefused = useRef<Refused>(() => {})

  useEffect(() => {
    let live = true
    Promise.all([api<WorkflowDetail>('GET', `/api/workflows/${encodeURIComponent(workflowId)}`), api<NodeSpec[]>('GET', '/api/node-types')])
      .then(([workflow, types]) => live && (setDetail(workflow), setSpecs(types)))
      .catch((e) => {
        if (!live) return
        if (e instanceof ApiError && (e.status === 404 || e.status === 422)) setError('This workflow does not exist, or it is not shared with you.')
        else setError(errorText(e))
      })
    return () => {
      live = false
    }
  }, [workflowId])

  // The live document is opened at once, while the page asks for the role and the node types.
  // Made and torn down by an effect, so a development double mount leaves no second socket.
  useEffect(() => {
    const runs = new RunStore(workflowId)
    const link = new Link(workflowId, me.id, {
      state: (state, text) => {
        setLinkState({ state, detail: text })
        // Whatever happened while the socket was away is read again.
        if (state === 'connected') void runs.refreshHead()
      },
      refused: (message, readOnly) => onRefused.current(message, readOnly),
      text: (data) => runs.receive(data),
    })
    const history = new History(link.doc)
    setSynced(false)
    // The canvas is drawn once the document is here: from the server, or from this device's copy
    // when there is one (offline); a device with no copy and no connection shows what it has
    // after a few seconds.
    link.provider.on('sync', (done: boolean) => done && setSynced(true))
    void link.persistence.whenSynced.then(() => roots(link.doc).meta.size > 0 && setSynced(true))
    const fallback = window.setTimeout(() => setSynced(true), SYNC_WAIT_MS)
    link.awareness.setLocalState({ cursor: null, selection: [], members: 0 })
    setSession({ link, history, runs, generation })
    return () => {
      window.clearTimeout(fallback)
      runs.close()
      history.destroy()
      link.destroy()
    }
  }, [workflowId, me.id, generation])

  if (error || !detail || !specs || session?.generation !== generation) {
    return (
      <div className="page">
        {error ? <Alert error={error} /> : <p className="muted">Opening the workflow…</p>}
        <a href="/" onClick={(e) => (e.preventDefault(), navigate('/'))}>
          Back to your workflows
        </a>
      </div>
    )
  }
  return (
    <Editor
      key={generation}
      {...{ detail, specList: specs, me, session, linkState, setLinkState, synced, onRefused }}
      onReset={() => setGeneration((g) => g + 1)}
    />
  )
}

interface EditorProps {
  detail: WorkflowDetail
  specList: NodeSpec[]
  me: User
  session: Session
  linkState: { state: LinkState; detail: string | null }
  setLinkState: (state: { state: LinkState; detail: string | null }) => void
  synced: boolean
  onRefused: RefObject<Refused>
  onReset: () => void
}

function Editor({ detail, specList, me, session, linkState, setLinkState, synced, onRefused, onReset }: EditorProps) {
  const workflowId = detail.id
  const notify = useNotify()
  const [role, setRole] = useState<Role>(detail.role)
  const roleRef = useRef(role)
  roleRef.current = role

  const refreshRole = useCallback(async () => {
    try {
      const fresh = await api<WorkflowDetail>('GET', `/api/workflows/${workflowId}`)
      if (fresh.role !== roleRef.current) {
        notify(fresh.role === 'viewer' ? 'Your role changed: you can now only view this workflow.' : `Your role changed: you are now ${fresh.role === 'owner' ? 'the owner' : 'an editor'}.`)
        setRole(fresh.role)
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setLinkState({ state: 'closed', detail: 'You no longer have access to this workflow.' })
    }
  }, [workflowId, notify, setLinkState])

  useEffect(() => {
    onRefused.current = (message, readOnly) => {
      notify(message, { bad: true, ms: 8000 })
      // A refused edit stays in this copy of the document: start again from the server's.
      if (readOnly) void refreshRole().then(() => session.link.forgetLocal().then(onReset))
    }
  }, [onRefused, notify, refreshRole, session, onReset])

  return (
    <RunsContext.Provider value={session.runs}>
      <Workspace {...{ detail, specList, me, role, linkState, synced, refreshRole }} link={session.link} history={session.history} />
    </RunsContext.Provider>
  )
}

interface WorkspaceProps {
  detail: WorkflowDetail
  specList: NodeSpec[]
  me: User
  role: Role
  linkState: { state: LinkState; detail: string | null }
  synced: boolean
  refreshRole: () => Promise<void>
  link: Link
  history: History
}

function Workspace({ detail, specList, me, role, linkState, synced, refreshRole, link, history }: WorkspaceProps) {
  const workflowId = detail.id
  const notify = useNotify()
  const runs = useRunStore()
  const [sharing, setSharing] = useState(false)
  const [help, setHelp] = useState(false)
  const [sidebar, setSidebar] = useState(false)
  const [hooks, setHooks] = useState(false)
  const [openRun, setOpenRun] = useState<string | null>(null)
  const adder = useRef<((spec: NodeSpec) => void) | null>(null)

  // Roles can change while the canvas is open: the owner's editor signals it through presence,
  // and the role is also re-read every few seconds.
  const memberStamp = useMembersStamp(link.awareness)
  useEffect(() => {
    if (memberStamp) void refreshRole()
  }, [memberStamp, refreshRole])
  useEffect(() => {
    const timer = window.setInterval(() => document.visibilityState === 'visible' && void refreshRole(), ROLE_POLL_MS)
    return () => window.clearInterval(timer)
  }, [refreshRole])

  const readOnly = role === 'viewer' || linkState.state === 'closed'
  const specs = useMemo(() => specMap(specList), [specList])
  // The problems the page opened with hold until the document changes: the first sync brings
  // the state they were read from, so only edits after it and later syncs (a reconnect may bring
  // what others did meanwhile) ask again.
  const onDocChange = useCallback(
    (listener: () => void) => {
      let firstSync = !link.provider.synced
      const onUpdate = () => link.provider.synced && listener()
      const onSync = (done: boolean) => {
        if (!done) return
        if (firstSync) firstSync = false
        else listener()
      }
      link.doc.on('update', onUpdate)
      link.provider.on('sync', onSync)
      return () => {
        link.doc.off('update', onUpdate)
        link.provider.off('sync', onSync)
      }
    },
    [link],
  )
  const problems = useProblems(workflowId, detail.problems, onDocChange)
  const runBlocked =
    role === 'viewer'
      ? 'Viewers cannot start runs'
      : linkState.state === 'closed'
        ? 'Disconnected'
        : problems.length
          ? `${problems.length} problem${problems.length > 1 ? 's' : ''} to fix before running`
          : null
  const runNodes = useCallback(
    (scope: 'full' | 'selected' | 'single', nodeIds: string[]) => {
      const answered = runs.expect()
      void startRun(workflowId, scope, nodeIds).then((failure) => {
        answered(failure === null)
        if (failure) notify(failure, { bad: true, ms: 8000 })
      })
    },
    [workflowId, notify, runs],
  )
  const labelOf = useCallback(
    (id: string) => {
      const entry = roots(link.doc).nodes.get(id)
      const label = entry ? plainData(entry.get('data')).label : null
      return typeof label === 'string' && label ? label : id
    },
    [link],
  )
  const context = useMemo<EditorContextValue>(
    () => ({
      doc: link.doc,
      specs,
      workflowId,
      readOnly,
      duplicate: (ids) => paste(link.doc, copySelection(link.doc, ids), { x: 40, y: 40 }, specs),
      remove: (nodeIds, edgeIds = []) => deleteElements(link.doc, nodeIds, edgeIds),
      runNodes: runBlocked ? null : runNodes,
      runBlocked,
    }),
    [link, specs, workflowId, readOnly, runBlocked, runNodes],
  )

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement
      if (event.key === '?' && !target.closest('input, textarea, select')) setHelp((v) => !v)
    }
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [])

  const name = useWorkflowName(link)

  async function exportFile() {
    try {
      const file = await api<{ name: string }>('GET', `/api/workflows/${workflowId}/export`)
      const blob = new Blob([JSON.stringify(file, null, 2)], { type: 'application/json' })
      const anchor = document.createElement('a')
      anchor.href = URL.createObjectURL(blob)
      anchor.download = `${(file.name || 'workflow').replace(/[^\w.-]+/g, '-')}.galaxy.json`
      anchor.click()
      URL.revokeObjectURL(anchor.href)
    } catch (e) {
      notify(errorText(e), { bad: true })
    }
  }

  return (
    <EditorContext.Provider value={context}>
      <ReactFlowProvider>
        <div className="editor">
          <header className="editor-head">
            <a className="brand" href="/" onClick={(e) => (e.preventDefault(), navigate('/'))} aria-label="All workflows">
              <span className="brand-mark" aria-hidden="true" />
            </a>
            <input
              className="wf-title"
              aria-label="Workflow name"
              value={name}
              maxLength={200}
              disabled={readOnly}
              onChange={(e) => setName(link.doc, e.target.value)}
              onKeyDown={(e) => e.key === 'Enter' && e.currentTarget.blur()}
            />
            {role === 'viewer' && (
              <span className="badge view-only" title="You can see live changes but not edit">
                View only
              </span>
            )}
            <span className={`link-state ${linkState.state}`} role="status" aria-live="polite" data-state={linkState.state}>
              <span className="dot" aria-hidden="true" />
              {STATE_TEXT[linkState.state]}
            </span>
            <span className="spacer" />
            <Avatars awareness={link.awareness} me={me} />
            <RunToolbar canEdit={role !== 'viewer'} blocked={runBlocked} problems={problems} onRun={runNodes} />
            <div className="toolbar">
              <button className="ghost icon" aria-label="Undo" title="Undo (Ctrl/⌘+Z)" disabled={readOnly} onClick={() => history.undo()}>
                ↶
              </button>
              <button className="ghost icon" aria-label="Redo" title="Redo (Ctrl/⌘+Shift+Z)" disabled={readOnly} onClick={() => history.redo()}>
                ↷
              </button>
              <button className="ghost" onClick={exportFile}>
                Export
              </button>
              <button className="ghost" onClick={() => setHooks(true)}>
                Webhooks
              </button>
              <button className={sidebar ? 'ghost active' : 'ghost'} aria-pressed={sidebar} onClick={() => setSidebar(!sidebar)}>
                History
              </button>
              <button className="ghost icon" aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)" onClick={() => setHelp(true)}>
                ?
              </button>
              <button className="primary" onClick={() => setSharing(true)}>
                {role === 'owner' ? 'Share' : 'People'}
              </button>
            </div>
          </header>
          {linkState.state === 'closed' && (
            <div className="banner bad" role="alert">
              {linkState.detail ?? 'The connection was closed.'} <a href="/">Back to your workflows</a>
            </div>
          )}
          {linkState.state !== 'closed' && linkState.detail && linkState.state !== 'connected' && (
            <div className="banner" role="status">
              {linkState.detail}
            </div>
          )}
          <div className="editor-body">
            <Palette specs={specList} disabled={readOnly} onAdd={(spec) => adder.current?.(spec)} />
            <Canvas specList={specList} history={history} awareness={link.awareness} synced={synced} adder={adder} />
            <ViewingBanner />
            {sidebar && (
              <aside className="sidebar" aria-label="Workflow side panel">
                <RunsHistory canRun={runBlocked === null} labelOf={labelOf} onRun={runNodes} open={openRun} setOpen={setOpenRun} />
                <VersionsPanel workflowId={workflowId} canEdit={!readOnly} />
              </aside>
            )}
          </div>
        </div>
        {sharing && (
          <ShareDialog
            workflowId={workflowId}
            role={role}
            onClose={() => setSharing(false)}
            onChanged={() => link.awareness.setLocalStateField('members', Date.now())}
          />
        )}
        {help && <ShortcutsDialog onClose={() => setHelp(false)} />}
        {hooks && (
          <HooksDialog
            workflowId={workflowId}
            doc={link.doc}
            canEdit={role !== 'viewer'}
            onOpenRun={(runId) => (setOpenRun(runId), setSidebar(true))}
            onClose={() => setHooks(false)}
          />
        )}
      </ReactFlowProvider>
    </EditorContext.Provider>
  )
}
