// The editable fields on a node. Multi-line text is bound to a Y.Text (concurrent typing
// merges); every other value is a plain value in the node's data map.

import { useEffect, useId, useRef, useState } from 'react'
import * as Y from 'yjs'

import { useEditor } from './context'
import { LOCAL, roots, setValue, textOf } from './doc'
import { parseNumber, type ParamSpec, type PortSpec } from './specs'
import { diff, shiftCaret, type Delta } from './text'

function storedText(doc: Y.Doc, nodeId: string, key: string): Y.Text | null {
  const data = roots(doc).nodes.get(nodeId)?.get('data')
  const value = data instanceof Y.Map ? data.get(key) : undefined
  return value instanceof Y.Text ? value : null
}

export function TextArea(props: { nodeId: string; name: string; label: string; value: unknown; disabled: boolean; placeholder?: string }) {
  const { doc } = useEditor()
  const { nodeId, name, value } = props
  const ref = useRef<HTMLTextAreaElement>(null)
  const ytext = storedText(doc, nodeId, name)
  const plain = typeof value === 'string' ? value : ''

  useEffect(() => {
    const element = ref.current
    if (!element) return
    const current = ytext ? ytext.toString() : plain
    if (element.value !== current) element.value = current
    if (!ytext) return
    const observer = (event: Y.YTextEvent) => {
      if (event.transaction.origin === LOCAL) return
      const focused = document.activeElement === element
      const { selectionStart, selectionEnd } = element
      element.value = ytext.toString()
      if (focused) {
        const delta = event.delta as Delta
        element.setSelectionRange(shiftCaret(selectionStart, delta), shiftCaret(selectionEnd, delta))
      }
    }
    ytext.observe(observer)
    return () => ytext.unobserve(observer)
  }, [ytext, ytext ? null : plain])

  function onInput() {
    const element = ref.current!
    const text = textOf(doc, nodeId, name)
    if (!text) return
    const splice = diff(text.toString(), element.value)
    if (!splice) return
    doc.transact(() => {
      if (splice.remove) text.delete(splice.index, splice.remove)
      if (splice.insert) text.insert(splice.index, splice.insert)
    }, LOCAL)
  }

  return (
    <textarea
      ref={ref}
      className="nodrag nowheel"
      data-collab="text"
      aria-label={props.label}
      rows={4}
      defaultValue={ytext ? ytext.toString() : plain}
      disabled={props.disabled}
      placeholder={props.placeholder}
      onInput={onInput}
      spellCheck={false}
    />
  )
}

export function StringField(props: { nodeId: string; name: string; label: string; value: unknown; disabled: boolean; placeholder?: string; pattern?: string | null }) {
  const { doc } = useEditor()
  const value = typeof props.value === 'string' ? props.value : ''
  const bad = props.pattern && value && !new RegExp(`^(?:${props.pattern})$`).test(value)
  return (
    <>
      <input
        className="nodrag"
        aria-label={props.label}
        value={value}
        disabled={props.disabled}
        placeholder={props.placeholder}
        aria-invalid={bad ? true : undefined}
        onChange={(e) => setValue(doc, props.nodeId, props.name, e.target.value)}
      />
      {bad && <span className="field-error">Use letters, digits and _ (not starting with a digit).</span>}
    </>
  )
}

function shown(value: unknown): string {
  return typeof value === 'number' || typeof value === 'string' ? String(value) : ''
}

export function NumberField(props: {
  nodeId: string
  name: string
  label: string
  value: unknown
  disabled: boolean
  limits: { minimum: number | null; maximum: number | null; allow_percent?: boolean; integer?: boolean }
}) {
  const { doc } = useEditor()
  const [draft, setDraft] = useState<string | null>(null)
  const [problem, setProblem] = useState<string | null>(null)
  const errorId = useId()
  function onChange(text: string) {
    setDraft(text)
    const parsed = parseNumber(text, props.limits)
    setProblem(parsed.ok ? null : parsed.reason)
    if (parsed.ok) setValue(doc, props.nodeId, props.name, parsed.value)
  }
  return (
    <>
      <input
        className="nodrag"
        aria-label={props.label}
        inputMode="decimal"
        value={draft ?? shown(props.value)}
        disabled={props.disabled}
        aria-invalid={problem ? true : undefined}
        aria-describedby={problem ? errorId : undefined}
        onChange={(e) => onChange(e.target.value)}
        onBlur={() => (setDraft(null), setProblem(null))}
      />
      {problem && (
        <span className="field-error" id={errorId}>
          {problem}
        </span>
      )}
    </>
  )
}

export function ParamField({ nodeId, param, value, disabled }: { nodeId: string; param: ParamSpec; value: unknown; disabled: boolean }) {
  const { doc } = useEditor()
  const common = { nodeId, name: param.name, label: param.label, value, disabled }
  switch (param.kind) {
    case 'text':
      return <TextArea {...common} />
    case 'number':
    case 'integer':
      return <NumberField {...common} limits={{ minimum: param.minimum, maximum: param.maximum, integer: param.kind === 'integer' }} />
    case 'select':
      return (
        <select className="nodrag" aria-label={param.label} value={shown(value)} disabled={disabled} onChange={(e) => setValue(doc, nodeId, param.name, e.target.value)}>
          {param.choices.map((choice) => (
            <option key={choice}>{choice}</option>
          ))}
        </select>
      )
    case 'boolean':
      return (
        <input
          type="checkbox"
          className="nodrag"
          aria-label={param.label}
          checked={value === true}
          disabled={disabled}
          onChange={(e) => setValue(doc, nodeId, param.name, e.target.checked)}
        />
      )
    case 'model':
      return <StringField {...common} placeholder="Server default" />
    default:
      return <StringField {...common} pattern={param.pattern} />
  }
}

export function InputField({ nodeId, port, value, disabled }: { nodeId: string; port: PortSpec; value: unknown; disabled: boolean }) {
  const common = { nodeId, name: port.name, label: port.label, value, disabled }
  if (port.type === 'number') {
    return <NumberField {...common} limits={{ minimum: port.minimum, maximum: port.maximum, allow_percent: port.allow_percent }} />
  }
  return port.multiline ? <TextArea {...common} /> : <StringField {...common} />
}
