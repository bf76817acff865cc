import { test } from 'node:test'
import assert from 'node:assert/strict'
import { classifyOutcome } from '../src/outcome.ts'

test('originate failures map to busy, noanswer and failed', () => {
  assert.equal(classifyOutcome({ cause: 'BUSY' }), 'busy')
  assert.equal(classifyOutcome({ cause: 'NOANSWER' }), 'noanswer')
  assert.equal(classifyOutcome({ cause: 'CANCEL' }), 'noanswer')
  assert.equal(classifyOutcome({ cause: 'CONGESTION' }), 'failed')
  assert.equal(classifyOutcome({ cause: 'CHANUNAVAIL' }), 'failed')
  assert.equal(classifyOutcome({ cause: 'FAILED' }), 'failed')
  assert.equal(classifyOutcome({ cause: 'busy' }), 'busy')
})

test('a numeric hangup cause of an answered call is answered', () => {
  assert.equal(classifyOutcome({ cause: '16', billSec: 42 }), 'answered')
  assert.equal(classifyOutcome({ cause: '16', billSec: 0 }), 'answered')
  assert.equal(classifyOutcome({ cause: '31' }), 'answered')
  // Any cause with billed time was answered.
  assert.equal(classifyOutcome({ cause: '17', billSec: 3 }), 'answered')
  assert.equal(classifyOutcome({ cause: '127', billSec: 1 }), 'answered')
})

test('numeric causes without billed time say why the callee was not reached', () => {
  assert.equal(classifyOutcome({ cause: '17' }), 'busy')
  assert.equal(classifyOutcome({ cause: '19' }), 'noanswer')
  assert.equal(classifyOutcome({ cause: '18' }), 'noanswer')
  assert.equal(classifyOutcome({ cause: '34' }), 'failed')
  assert.equal(classifyOutcome({ cause: '1' }), 'failed')
})

test('a machine verdict from AMD wins over the cause', () => {
  assert.equal(classifyOutcome({ cause: '16', billSec: 20, amd: 'MACHINE' }), 'machine')
  assert.equal(classifyOutcome({ cause: '16', billSec: 20, amd: 'machine' }), 'machine')
  assert.equal(classifyOutcome({ cause: '16', billSec: 20, amd: 'HUMAN' }), 'answered')
  assert.equal(classifyOutcome({ cause: '16', billSec: 20, amd: 'NOTSURE' }), 'answered')
})

test('unknown or empty causes count as failed so every call has one outcome', () => {
  assert.equal(classifyOutcome({ cause: 'WHATEVER' }), 'failed')
  assert.equal(classifyOutcome({ cause: '' }), 'failed')
  assert.equal(classifyOutcome({ cause: '9999' }), 'failed')
})
