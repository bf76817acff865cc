import { test } from 'node:test'
import assert from 'node:assert/strict'
import { dispatchBudget, limiterFor, shareRate } from '../src/pacing.ts'

const base = { rateCps: 50, bufferSec: 2, maxConcurrent: 1000, inFlight: 0, queued: 0 }

test('the dispatcher keeps a few seconds of work queued at the campaign rate', () => {
  assert.equal(dispatchBudget(base), 100)
  assert.equal(dispatchBudget({ ...base, queued: 60 }), 40)
  assert.equal(dispatchBudget({ ...base, queued: 100 }), 0)
  assert.equal(dispatchBudget({ ...base, queued: 150 }), 0)
  // A slow campaign still keeps one call queued.
  assert.equal(dispatchBudget({ ...base, rateCps: 0.1 }), 1)
})

test('queued plus in-flight never exceeds the concurrency cap', () => {
  assert.equal(dispatchBudget({ ...base, maxConcurrent: 30 }), 30)
  assert.equal(dispatchBudget({ ...base, maxConcurrent: 30, inFlight: 25 }), 5)
  assert.equal(dispatchBudget({ ...base, maxConcurrent: 30, inFlight: 25, queued: 5 }), 0)
  assert.equal(dispatchBudget({ ...base, maxConcurrent: 30, inFlight: 40 }), 0)
})

test('the global cap bounds every campaign', () => {
  assert.equal(dispatchBudget({ ...base, globalRoom: 7 }), 7)
  assert.equal(dispatchBudget({ ...base, globalRoom: 0 }), 0)
  assert.equal(dispatchBudget({ ...base, globalRoom: -3 }), 0)
})

test('nonsense rates dispatch nothing', () => {
  assert.equal(dispatchBudget({ ...base, rateCps: 0 }), 0)
  assert.equal(dispatchBudget({ ...base, rateCps: Number.NaN }), 0)
  assert.equal(dispatchBudget({ ...base, maxConcurrent: 0 }), 0)
})

test('a rate becomes a BullMQ limiter of whole calls per window', () => {
  assert.deepEqual(limiterFor(50), { max: 50, duration: 1000 })
  assert.deepEqual(limiterFor(680), { max: 680, duration: 1000 })
  assert.deepEqual(limiterFor(2.5), { max: 5, duration: 2000 })
  assert.deepEqual(limiterFor(0.5), { max: 1, duration: 2000 })
  assert.deepEqual(limiterFor(0.25), { max: 1, duration: 4000 })
  assert.deepEqual(limiterFor(1 / 90), { max: 1, duration: 90000 })
  assert.throws(() => limiterFor(0), RangeError)
  assert.throws(() => limiterFor(-1), RangeError)
})

test('a global calls-per-second cap scales campaign rates down in proportion', () => {
  assert.deepEqual(shareRate([10, 30], null), [10, 30])
  assert.deepEqual(shareRate([10, 30], 100), [10, 30])
  assert.deepEqual(shareRate([10, 30], 20), [5, 15])
  const shared = shareRate([7, 11, 13], 10)
  assert.ok(shared.reduce((a, b) => a + b, 0) <= 10)
  assert.ok(shared.every((r) => r > 0))
})
