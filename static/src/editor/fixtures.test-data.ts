// Node specs shaped like `GET /api/node-types`, for the unit tests.
import type { NodeSpec, ParamSpec, PortSpec } from './specs'

const port = (p: Partial<PortSpec> & Pick<PortSpec, 'name' | 'type'>): PortSpec => ({
  label: p.name, required: false, multiple: false, editable: false, default: null, minimum: null, maximum: null,
  max_length: null, multiline: false, allow_percent: false, description: '', ...p,
})
const param = (p: Partial<ParamSpec> & Pick<ParamSpec, 'name' | 'kind'>): ParamSpec => ({
  label: p.name, default: null, minimum: null, maximum: null, max_length: null, choices: [], pattern: null, description: '', ...p,
})
const node = (p: Partial<NodeSpec> & Pick<NodeSpec, 'type'>): NodeSpec => ({
  label: p.type, description: '', category: 'x', version: 1, inputs: [], outputs: [], params: [], ...p,
})

export const SPECS: NodeSpec[] = [
  node({ type: 'text', label: 'Text', outputs: [port({ name: 'text', type: 'text', label: 'Text' })],
    params: [param({ name: 'text', kind: 'text', default: '' }), param({ name: 'input_name', kind: 'string', default: '' })] }),
  node({ type: 'upload_image', label: 'Upload Image', outputs: [port({ name: 'image', type: 'image', label: 'Image' })],
    params: [param({ name: 'media_id', kind: 'media', default: '' })] }),
  node({ type: 'upload_video', label: 'Upload Video', outputs: [port({ name: 'video', type: 'video', label: 'Video' })] }),
  node({
    type: 'llm', label: 'Run LLM',
    inputs: [
      port({ name: 'system_prompt', type: 'text', label: 'System prompt', editable: true, multiline: true, default: '' }),
      port({ name: 'user_message', type: 'text', label: 'User message', editable: true, multiline: true, default: '', required: true }),
      port({ name: 'images', type: 'image', label: 'Images', multiple: true }),
    ],
    outputs: [port({ name: 'output', type: 'text', label: 'Output' })],
    params: [param({ name: 'temperature', kind: 'number', default: 0.7, minimum: 0, maximum: 2 })],
  }),
  node({
    type: 'crop_image', label: 'Crop Image',
    inputs: [port({ name: 'image_url', type: 'image', label: 'Image', required: true }),
      port({ name: 'x_percent', type: 'number', label: 'X', editable: true, default: 0, minimum: 0, maximum: 100 })],
    outputs: [port({ name: 'output', type: 'image', label: 'Output' })],
  }),
  node({
    type: 'extract_frame', label: 'Extract Frame',
    inputs: [port({ name: 'video_url', type: 'video', label: 'Video', required: true }),
      port({ name: 'timestamp', type: 'number', label: 'Timestamp', editable: true, allow_percent: true, default: 0, minimum: 0 })],
    outputs: [port({ name: 'output', type: 'image', label: 'Output' })],
  }),
]
