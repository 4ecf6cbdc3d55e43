import { describe, expect, it } from 'vitest'

import { describeClose, describeRefusal } from './connection'

describe('describeClose', () => {
  it('turns the server’s final close codes into words and stops retrying', () => {
    expect(describeClose(4401, 'not signed in')).toEqual({ final: true, message: 'Your session has ended. Sign in again to keep editing.' })
    expect(describeClose(4403, 'you are no longer a member of this workflow')?.message).toMatch(/owner removed you/)
    expect(describeClose(4403, 'cross-site WebSocket refused')?.message).toMatch(/another site/)
    expect(describeClose(4404, 'this workflow was deleted')?.message).toBe('This workflow was deleted by its owner.')
    expect(describeClose(4404, 'no such workflow')?.message).toMatch(/not shared with you/)
    expect(describeClose(4499, 'odd')).toEqual({ final: true, message: 'odd' })
  })

  it('explains transient closes while the client retries, and says nothing for ordinary ones', () => {
    expect(describeClose(1013, 'too many people on this workflow right now')).toEqual({
      final: false,
      message: 'The server is busy (too many people on this workflow right now). Reconnecting…',
    })
    expect(describeClose(1009, '')?.final).toBe(false)
    expect(describeClose(1012, '')?.message).toMatch(/restarting/)
    expect(describeClose(1006, '')).toBeNull()
    expect(describeClose(1000, '')).toBeNull()
  })
})

describe('describeRefusal', () => {
  it('explains why the server did not keep an edit', () => {
    expect(describeRefusal('read-only: viewers cannot edit this workflow')).toBe('You can only view this workflow: your change was not saved.')
    expect(describeRefusal('node limit: a workflow holds at most 500 nodes; the 2 node(s) just added were removed')).toBe(
      'Too many nodes: a workflow holds at most 500 nodes; the 2 node(s) just added were removed.',
    )
    expect(describeRefusal('document size limit: this workflow is at its 8 byte limit; the change was not saved')).toMatch(/^This workflow is too large/)
  })
})
