// Two pages need no router library: the workflow list at `/` and a canvas at `/w/{id}`.
import { useSyncExternalStore } from 'react'

const listeners = new Set<() => void>()

function subscribe(listener: () => void): () => void {
  listeners.add(listener)
  window.addEventListener('popstate', listener)
  return () => {
    listeners.delete(listener)
    window.removeEventListener('popstate', listener)
  }
}

export function navigate(path: string): void {
  if (path === window.location.pathname) return
  window.history.pushState(null, '', path)
  for (const listener of listeners) listener()
}

export function usePath(): string {
  return useSyncExternalStore(subscribe, () => window.location.pathname)
}

/** The workflow id of a canvas path, or null. */
export function workflowIdOf(path: string): string | null {
  const match = /^\/w\/([^/]+)\/?$/.exec(path)
  return match ? decodeURIComponent(match[1]) : null
}
