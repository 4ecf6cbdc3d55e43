// Small shared pieces: errors in place, dialogs, toasts.
import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from 'react'

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
