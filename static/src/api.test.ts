import { describe, expect, it } from 'vitest'

import { formatProblem, parseProblem, requestHeaders } from './api'

describe('parseProblem', () => {
  it('reads title and detail from problem+json', () => {
    const body = JSON.stringify({ type: 'about:blank', title: 'Conflict', status: 409, detail: 'Email already used' })
    expect(parseProblem(409, 'application/problem+json', body)).toEqual({
      status: 409,
      title: 'Conflict',
      detail: 'Email already used',
      type: 'about:blank',
    })
  })

  it('accepts plain JSON errors with only a detail', () => {
    const body = JSON.stringify({ status_code: 401, detail: 'Invalid credentials' })
    expect(parseProblem(401, 'application/json; charset=utf-8', body)).toEqual({
      status: 401,
      title: 'Request failed (HTTP 401)',
      detail: 'Invalid credentials',
    })
  })

  it('falls back to the text of a non-JSON body', () => {
    expect(parseProblem(502, 'text/html', '  Bad Gateway \n')).toEqual({
      status: 502,
      title: 'Request failed (HTTP 502)',
      detail: 'Bad Gateway',
    })
  })

  it('survives invalid JSON and empty bodies', () => {
    expect(parseProblem(500, 'application/problem+json', '{oops')).toMatchObject({ status: 500, detail: '{oops' })
    expect(parseProblem(500, null, '')).toEqual({ status: 500, title: 'Request failed (HTTP 500)' })
  })

  it('does not repeat a detail equal to the title', () => {
    const body = JSON.stringify({ title: 'Not Found', detail: 'Not Found' })
    expect(parseProblem(404, 'application/problem+json', body)).toEqual({ status: 404, title: 'Not Found' })
  })
})

describe('formatProblem', () => {
  it('joins title and detail', () => {
    expect(formatProblem({ status: 403, title: 'Forbidden', detail: 'Viewers cannot edit' })).toBe('Forbidden: Viewers cannot edit')
    expect(formatProblem({ status: 403, title: 'Forbidden' })).toBe('Forbidden')
  })
})

describe('requestHeaders', () => {
  it('sends the CSRF token on unsafe methods only', () => {
    expect(requestHeaders('POST', 'tok', true)).toMatchObject({ 'x-csrf-token': 'tok', 'content-type': 'application/json' })
    expect(requestHeaders('GET', 'tok', false)).not.toHaveProperty('x-csrf-token')
    expect(requestHeaders('POST', null, true)).not.toHaveProperty('x-csrf-token')
  })
})
