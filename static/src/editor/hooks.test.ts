import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'

import { addNode, setValue } from './doc'
import { SPECS } from './fixtures.test-data'
import { curlExample, workflowInputs } from './HooksDialog'
import { specMap } from './specs'

const specs = specMap(SPECS)

function textNode(doc: Y.Doc, inputName: string, text: string): string {
  const id = addNode(doc, specs.get('text')!, { x: 0, y: 0 })
  setValue(doc, id, 'input_name', inputName)
  setValue(doc, id, 'text', text)
  return id
}

describe('the inputs a webhook may fill', () => {
  it('are the Text nodes with an input name, required when the node has no text to fall back on', () => {
    const doc = new Y.Doc()
    textNode(doc, 'topic', '')
    textNode(doc, 'audience', 'Developers')
    textNode(doc, '', 'not an input')
    addNode(doc, specs.get('llm')!, { x: 0, y: 0 })
    expect(workflowInputs(doc)).toEqual([
      { name: 'audience', required: false },
      { name: 'topic', required: true },
    ])
  })

  it('name an input once, required when any of its nodes is empty', () => {
    const doc = new Y.Doc()
    textNode(doc, 'topic', 'AI')
    textNode(doc, 'topic', '   ')
    expect(workflowInputs(doc)).toEqual([{ name: 'topic', required: true }])
  })
})

describe('the example request', () => {
  it('posts every input in the bearer form, with the secret when it is known', () => {
    const inputs = [{ name: 'topic', required: true }]
    const example = curlExample('http://galaxy.test/hooks/abc', 'whsec_x', inputs)
    expect(example).toContain("curl -X POST 'http://galaxy.test/hooks/abc?wait=10'")
    expect(example).toContain("Authorization: Bearer whsec_x")
    expect(example).toContain(`-d '{"inputs":{"topic":"…"}}'`)
    expect(curlExample('http://galaxy.test/hooks/abc', null, [])).toContain('Bearer $GALAXY_HOOK_SECRET')
  })
})
