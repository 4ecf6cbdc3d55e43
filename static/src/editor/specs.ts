// Node specs as served by `GET /api/node-types` (engine/spec.py): the one declaration that
// drives the palette, the node components, the handles and the connection rules.

export type PortType = 'text' | 'number' | 'image' | 'video'

export interface PortSpec {
  name: string
  type: PortType
  label: string
  required: boolean
  multiple: boolean
  editable: boolean
  default: string | number | null
  minimum: number | null
  maximum: number | null
  max_length: number | null
  multiline: boolean
  allow_percent: boolean
  description: string
}

export type ParamKind = 'text' | 'string' | 'number' | 'integer' | 'select' | 'boolean' | 'media' | 'model'

export interface ParamSpec {
  name: string
  kind: ParamKind
  label: string
  default: string | number | boolean | null
  minimum: number | null
  maximum: number | null
  max_length: number | null
  choices: string[]
  pattern: string | null
  description: string
}

export interface NodeSpec {
  type: string
  label: string
  description: string
  category: string
  version: number
  inputs: PortSpec[]
  outputs: PortSpec[]
  params: ParamSpec[]
}

export type SpecMap = ReadonlyMap<string, NodeSpec>

export const PORT_COLOURS: Record<PortType, string> = {
  text: '#7cc4f5',
  number: '#f2c46d',
  image: '#ef8fc3',
  video: '#b39cf7',
}

export function specMap(specs: readonly NodeSpec[]): SpecMap {
  return new Map(specs.map((spec) => [spec.type, spec]))
}

/** Data keys held as Y.Text (multi-line text params and multi-line editable inputs), as the server does. */
export function textKeys(spec: NodeSpec | undefined): ReadonlySet<string> {
  const keys = new Set<string>()
  if (!spec) return keys
  for (const param of spec.params) if (param.kind === 'text') keys.add(param.name)
  for (const port of spec.inputs) if (port.editable && port.multiline) keys.add(port.name)
  return keys
}

/** Data for a new node: its label and every default, like `NodeSpec.defaults()` on the server. */
export function defaultData(spec: NodeSpec): Record<string, unknown> {
  const data: Record<string, unknown> = { label: spec.label }
  for (const param of spec.params) if (param.default !== null) data[param.name] = param.default
  for (const port of spec.inputs) if (port.editable && port.default !== null) data[port.name] = port.default
  return data
}

const PERCENT = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/
const NUMERIC = /^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/

export type Parsed = { ok: true; value: string | number } | { ok: false; reason: string }

function inRange(value: number, minimum: number | null, maximum: number | null): Parsed {
  if (minimum !== null && value < minimum) return { ok: false, reason: `The minimum is ${minimum}.` }
  if (maximum !== null && value > maximum) return { ok: false, reason: `The maximum is ${maximum}.` }
  return { ok: true, value }
}

/**
 * What to store for text typed into a number field, checked as the server checks it
 * (engine/values.py): a number within range, or a percentage where the input allows one.
 */
export function parseNumber(
  text: string,
  limits: { minimum: number | null; maximum: number | null; allow_percent?: boolean; integer?: boolean },
): Parsed {
  const percent = PERCENT.exec(text)
  if (limits.allow_percent && percent) {
    return Number(percent[1]) > 100 ? { ok: false, reason: 'A percentage must be between 0% and 100%.' } : { ok: true, value: text.trim() }
  }
  if (!NUMERIC.test(text)) {
    return { ok: false, reason: limits.allow_percent ? 'Type a number or a percentage such as 50%.' : 'Type a number.' }
  }
  const value = Number(text)
  if (limits.integer && !Number.isInteger(value)) return { ok: false, reason: 'Type a whole number.' }
  return inRange(value, limits.minimum, limits.maximum)
}
