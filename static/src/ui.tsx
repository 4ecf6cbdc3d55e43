// Small shared pieces: errors in place, dialogs, toasts, a list read from the API.
import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from 'react'

import { api } from './api'

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** A moment as people read it: the time of day when it is today, else date and time. */
export function shortTime(iso: string): string {
  const date = new Date(iso)
  const today = new Date().toDateString() === date.toDateString()
  return today ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }) : date.toLocaleString()
}

export function dateTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}

/**
 * A list the API answers at `path` (`{items}`), read when the component mounts; `error` is the
 * last read's or change's. `act` runs a change, reads the list again and calls `onChanged`;
 * it answers whether the change went through.
 */
export function useListOf<T>(path: string, onChanged?: () => void) {
  const [items, setItems] = useState<T[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const reload = useCallback(async () => {
    try {
      setItems((await api<{ items: T[] }>('GET', path)).items)
    } catch (e) {
      setError(errorText(e))
    }
  }, [path])
  useEffect(() => void reload(), [reload])
  const act = useCallback(
    async (action: () => Promise<unknown>): Promise<boolean> => {
      setError(null)
      try {
        await action()
        await reload()
        onChanged?.()
        return true
      } catch (e) {
        setError(errorText(e))
        return false
      }
    },
    [reload, onChanged],
  )
  return { items, error, reload, act }
}

export function Alert({ error }: { error: string | null }) {
  return error ? (
    <p className="alert" role="alert">
      {error}
    </p>
  ) : null
}

export function Dialog(props: { title: string; onClose: () => void; children: ReactNode; footer?: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null)
  const { onClose } = props
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null
    ref.current?.querySelector<HTMLElement>('input, select, textarea, button:not([data-close])')?.focus()
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') onClose()
    }
    window.addEventListener('keydown', onKey)
    return () => {
      window.removeEventListener('keydown', onKey)
      previous?.focus?.()
    }
  }, [onClose])
  return (
    <div className="backdrop" onMouseDown={(event) => event.target === event.currentTarget && onClose()}>
      <div className={props.wide ? 'dialog wide' : 'dialog'} role="dialog" aria-modal="true" aria-label={props.title} ref={ref}>
        <header>
          <h2>{props.title}</h2>
          <button className="ghost icon" data-close aria-label="Close" onClick={onClose}>
            ✕
          </button>
        </header>
        {props.children}
        {props.footer && <footer>{props.footer}</footer>}
      </div>
    </div>
  )
}

interface Toast {
  id: number
  text: string
  bad: boolean
}

type Notify = (text: string, options?: { bad?: boolean; ms?: number }) => void

const ToastContext = createContext<Notify>(() => {})

export function useNotify(): Notify {
  return useContext(ToastContext)
}

export function Toasts({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([])
  const next = useRef(0)
  const notify = useCallback<Notify>((text, options = {}) => {
    const id = ++next.current
    setToasts((list) => [...list.filter((t) => t.text !== text), { id, text, bad: options.bad ?? false }])
    window.setTimeout(() => setToasts((list) => list.filter((t) => t.id !== id)), options.ms ?? 5000)
  }, [])
  return (
    <ToastContext.Provider value={notify}>
      {children}
      <div className="toast-stack" role="status" aria-live="polite">
        {toasts.map((toast) => (
          <div key={toast.id} className={toast.bad ? 'toast bad' : 'toast'}>
            {toast.text}
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  )
}
