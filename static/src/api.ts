// One helper for talking to the Galaxy REST API: JSON in and out, the CSRF header on
// unsafe methods, and errors turned into RFC 9457 problem details.

export interface Problem {
  status: number
  title: string
  detail?: string
  type?: string
}

export class ApiError extends Error {
  readonly problem: Problem

  constructor(problem: Problem) {
    super(formatProblem(problem))
    this.name = 'ApiError'
    this.problem = problem
  }

  get status(): number {
    return this.problem.status
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Turn an error response into a Problem. Understands `application/problem+json`
 * (`title`, `detail`), plain JSON with a `detail` field, and anything else as text.
 */
export function parseProblem(status: number, contentType: string | null, body: string): Problem {
  const fallbackTitle = status ? `Request failed (HTTP ${status})` : 'Request failed'
  const type = (contentType ?? '').toLowerCase()
  if (type.includes('json')) {
    try {
      const data: unknown = JSON.parse(body)
      if (data && typeof data === 'object' && !Array.isArray(data)) {
        const record = data as Record<string, unknown>
        const str = (key: string) => (typeof record[key] === 'string' && record[key] ? (record[key] as string) : undefined)
        const problem: Problem = { status: typeof record.status === 'number' ? record.status : status, title: str('title') ?? fallbackTitle }
        const detail = str('detail')
        if (detail !== undefined && detail !== problem.title) problem.detail = detail
        const problemType = str('type')
        if (problemType !== undefined) problem.type = problemType
        return problem
      }
    } catch {
      // Not valid JSON after all: fall through to the text form.
    }
  }
  const text = body.trim()
  return text ? { status, title: fallbackTitle, detail: text.slice(0, 300) } : { status, title: fallbackTitle }
}

export function formatProblem(problem: Problem): string {
  return problem.detail ? `${problem.title}: ${problem.detail}` : problem.title
}

/** Headers for a request; the CSRF token goes only on unsafe methods. */
export function requestHeaders(method: string, csrfToken: string | null, hasBody: boolean): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json' }
  if (hasBody) headers['content-type'] = 'application/json'
  if (csrfToken && !SAFE_METHODS.has(method.toUpperCase())) headers['x-csrf-token'] = csrfToken
  return headers
}

let csrfToken: string | null = null

/** Remember the token from `/api/auth/me` (or the login / signup answer); `null` after sign-out. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token
}

export function currentCsrfToken(): string | null {
  return csrfToken
}

/** Call the API; `body` is sent as JSON (a string is sent as it is: an imported file). */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response: Response
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: requestHeaders(method, csrfToken, body !== undefined),
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
  } catch (error) {
    throw new ApiError({ status: 0, title: 'Network error', detail: error instanceof Error ? error.message : String(error) })
  }
  if (!response.ok) {
    throw new ApiError(parseProblem(response.status, response.headers.get('content-type'), await response.text()))
  }
  if (response.status === 204) return undefined as T
  const text = await response.text()
  return (text ? JSON.parse(text) : undefined) as T
}

export interface User {
  id: string
  email: string
  name: string
  csrf_token: string
}

export type Role = 'owner' | 'editor' | 'viewer'

export interface WorkflowSummary {
  id: string
  name: string
  role: Role
  owner: { id: string; name: string }
  created_at: string
  updated_at: string
}

export interface WorkflowDetail {
  id: string
  name: string
  role: Role
  owner_id: string
  created_at: string
  updated_at: string
  /** What stops the workflow from running (node-level validation), as the server sees it. */
  problems: GraphProblem[]
}

export interface GraphProblem {
  code: string
  message: string
  node_id?: string | null
  edge_id?: string | null
}

export interface Member {
  user_id: string
  email: string
  name: string
  role: Role
  created_at: string
}

export interface Version {
  id: string
  name: string
  automatic: boolean
  author: { id: string; name: string } | null
  created_at: string
  nodes: number
  edges: number
}

export interface Page<T> {
  items: T[]
  next_cursor: string | null
}

export interface Hook {
  id: string
  workflow_id: string
  name: string
  url: string
  enabled: boolean
  callback_url: string
  created_by: { id: string; name: string } | null
  created_at: string
  rotated_at: string | null
  /** Until when the secret replaced by the last rotation still verifies. */
  previous_secret_valid_until: string | null
}

/** A hook with its secret: only in the answer that made it (create, rotate). */
export interface HookCreated extends Hook {
  secret: string
}

export interface Delivery {
  id: string
  kind: 'intake' | 'callback'
  /** intake: accepted, duplicate, rejected; callback: delivered, retrying, failed, refused. */
  outcome: string
  reason: string
  status_code: number
  run_id: string | null
  address: string
  idempotency_key: string | null
  attempt: number
  latency_ms: number
  received_at: string
}
