import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DEFAULT_RETRY_POLICY, finalState, nextAttempt, parseRetryPolicy, type RetryPolicy } from '../src/retry-policy.ts'
import { OUTCOMES } from '../src/outcome.ts'

const now = new Date('2025-01-01T12:00:00Z')
const policy: RetryPolicy = {
  busy: { retry: true, delaySec: 60 },
  noanswer: { retry: true, delaySec: 600, backoff: 2 },
  failed: { retry: true, delaySec: 30 },
  machine: { retry: false, delaySec: 0 },
  lost: { retry: true, delaySec: 5 },
  maxAttempts: 3,
}
const at = (sec: number) => ({ retryAt: new Date(now.getTime() + sec * 1000) })

test('an answered call is final whatever the attempts left', () => {
  assert.deepEqual(nextAttempt('answered', 1, now, policy), { final: true })
})

test('every retryable outcome schedules the next attempt after its delay', () => {
  assert.deepEqual(nextAttempt('busy', 1, now, policy), at(60))
  assert.deepEqual(nextAttempt('failed', 1, now, policy), at(30))
  assert.deepEqual(nextAttempt('lost', 2, now, policy), at(5))
  assert.deepEqual(nextAttempt('noanswer', 1, now, policy), at(600))
})

test('backoff multiplies the delay for each further attempt', () => {
  assert.deepEqual(nextAttempt('noanswer', 2, now, policy), at(1200))
  assert.deepEqual(nextAttempt('noanswer', 2, now, { ...policy, maxAttempts: 5 }), at(1200))
  assert.deepEqual(nextAttempt('noanswer', 3, now, { ...policy, maxAttempts: 5 }), at(2400))
})

test('an outcome without retry is final', () => {
  assert.deepEqual(nextAttempt('machine', 1, now, policy), { final: true })
})

test('the last allowed attempt is final for every outcome', () => {
  for (const o of OUTCOMES) assert.deepEqual(nextAttempt(o, 3, now, policy), { final: true }, o)
  for (const o of OUTCOMES) assert.deepEqual(nextAttempt(o, 4, now, policy), { final: true }, o)
})

test('a final contact is done when reached and failed otherwise', () => {
  assert.equal(finalState('answered'), 'done')
  assert.equal(finalState('machine'), 'done')
  for (const o of ['busy', 'noanswer', 'failed', 'lost'] as const) assert.equal(finalState(o), 'failed')
})

test('a partial policy is completed from the defaults and a bad one is refused', () => {
  const p = parseRetryPolicy({ busy: { delaySec: 10 }, machine: { retry: true, delaySec: 7200 } })
  assert.deepEqual(p.busy, { retry: true, delaySec: 10 })
  assert.deepEqual(p.machine, { retry: true, delaySec: 7200 })
  assert.deepEqual(p.noanswer, DEFAULT_RETRY_POLICY.noanswer)
  assert.deepEqual(parseRetryPolicy(undefined), DEFAULT_RETRY_POLICY)
  assert.throws(() => parseRetryPolicy({ busy: { delaySec: -1 } }), /retryPolicy\/busy\/delaySec/)
  assert.throws(() => parseRetryPolicy({ busy: { retry: 'yes' } }), /retryPolicy/)
  assert.throws(() => parseRetryPolicy({ answered: { retry: true, delaySec: 1 } }), /retryPolicy/)
  assert.throws(() => parseRetryPolicy([]), /object/)
})
