import { test } from 'node:test'
import assert from 'node:assert/strict'
import { flows } from '@federate/db'
import { DialerError } from '../src/index.ts'
import { harness } from './helpers.ts'

const good = { name: 'Election', flowId: 'survey', callerId: '+15550001111', rateCps: 5, maxConcurrent: 10 }

test('a campaign is created as a draft with defaults, and bad input is refused with a reason', async (t) => {
  const h = await harness(t)
  const c = await h.dialer.create(good)
  assert.equal(c.status, 'draft')
  assert.match(c.id, /^cmp_[0-9a-f]{12}$/)
  assert.equal(c.rateCps, 5)
  assert.equal(c.flowVersion, null)
  assert.deepEqual(c.window, { start: '09:00', end: '21:00' })
  assert.equal(c.maxAttempts, 3)
  assert.equal(c.retryPolicy.busy.retry, true)
  assert.deepEqual(await h.dialer.get(c.id), c)

  const bad = async (input: unknown, code: string, re: RegExp) => {
    await assert.rejects(h.dialer.create(input), (err: DialerError) => {
      assert.equal(err.code, code)
      assert.match(err.message, re)
      return true
    })
  }
  await bad({ ...good, flowId: 'nope' }, 'FED_DIALER_FLOW_NOT_FOUND', /nope/)
  await bad({ ...good, flowVersion: 9 }, 'FED_DIALER_FLOW_NOT_FOUND', /survey@9/)
  await bad({ ...good, rateCps: 0 }, 'FED_DIALER_INVALID_INPUT', /rateCps/)
  await bad({ ...good, rateCps: -2 }, 'FED_DIALER_INVALID_INPUT', /rateCps/)
  await bad({ ...good, maxConcurrent: 0 }, 'FED_DIALER_INVALID_INPUT', /maxConcurrent/)
  await bad({ ...good, maxConcurrent: 1.5 }, 'FED_DIALER_INVALID_INPUT', /maxConcurrent/)
  await bad({ ...good, window: { start: '9', end: '21:00' } }, 'FED_DIALER_INVALID_INPUT', /HH:MM/)
  await bad({ ...good, retryPolicy: { busy: { delaySec: 'soon' } } }, 'FED_DIALER_INVALID_INPUT', /retryPolicy/)
  await bad({ ...good, extra: 1 }, 'FED_DIALER_INVALID_INPUT', /./)
  await bad({ ...good, id: 'bad id' }, 'FED_DIALER_INVALID_INPUT', /id/)
  await h.dialer.create({ ...good, id: 'camp-1' })
  await bad({ ...good, id: 'camp-1' }, 'FED_DIALER_INVALID_INPUT', /already exists/)
})

test('start pins the latest flow version and the lifecycle refuses impossible moves', async (t) => {
  const h = await harness(t)
  const c = await h.dialer.create(good)
  await flows.publishVersion(h.pool, 'survey', { v: 2 })
  const started = await h.dialer.start(c.id)
  assert.equal(started.status, 'running')
  assert.equal(started.flowVersion, 2)
  assert.ok(started.startedAt)
  assert.equal((await h.dialer.start(c.id)).status, 'running', 'starting a running campaign is a no-op')
  assert.equal((await h.dialer.resume(c.id)).status, 'running', 'resuming a running campaign is a no-op')
  assert.equal((await h.dialer.pause(c.id)).status, 'paused')
  await assert.rejects(h.dialer.start(c.id), { code: 'FED_DIALER_BAD_STATE' })
  assert.equal((await h.dialer.resume(c.id)).status, 'running')
  const stopped = await h.dialer.stop(c.id)
  assert.equal(stopped.status, 'stopped')
  assert.ok(stopped.stoppedAt)
  await assert.rejects(h.dialer.resume(c.id), { code: 'FED_DIALER_BAD_STATE' })
  await assert.rejects(h.dialer.update(c.id, { rateCps: 9 }), { code: 'FED_DIALER_BAD_STATE' })
  await assert.rejects(h.dialer.pause('missing'), { code: 'FED_DIALER_NOT_FOUND' })
  await assert.rejects(h.dialer.get('missing'), { code: 'FED_DIALER_NOT_FOUND' })
})

test('campaigns are listed, filtered by status and updated', async (t) => {
  const h = await harness(t)
  const a = await h.dialer.create({ ...good, id: 'a' })
  await h.dialer.create({ ...good, id: 'b' })
  await h.dialer.start(a.id)
  assert.deepEqual((await h.dialer.list()).map((c) => c.id), ['a', 'b'])
  assert.deepEqual((await h.dialer.list({ status: 'running' })).map((c) => c.id), ['a'])
  const u = await h.dialer.update('b', { rateCps: 2.5, window: { start: '10:00', end: '18:00', days: [1, 2] }, retryPolicy: { busy: { retry: false } } })
  assert.equal(u.rateCps, 2.5)
  assert.deepEqual(u.window, { start: '10:00', end: '18:00', days: [1, 2] })
  assert.equal(u.retryPolicy.busy.retry, false)
  await assert.rejects(h.dialer.update('b', { rateCps: 0 }), { code: 'FED_DIALER_INVALID_INPUT' })
})

test('global caps are stored, read back and validated', async (t) => {
  const h = await harness(t)
  assert.deepEqual(await h.dialer.getGlobalCaps(), { maxConcurrent: null, maxCps: null })
  assert.deepEqual(await h.dialer.setGlobalCaps({ maxConcurrent: 100, maxCps: 12.5 }), { maxConcurrent: 100, maxCps: 12.5 })
  assert.deepEqual(await h.dialer.setGlobalCaps({ maxCps: null }), { maxConcurrent: 100, maxCps: null })
  await assert.rejects(h.dialer.setGlobalCaps({ maxConcurrent: -1 }), { code: 'FED_DIALER_INVALID_INPUT' })
  await assert.rejects(h.dialer.setGlobalCaps({ maxConcurrent: 1.5 }), { code: 'FED_DIALER_INVALID_INPUT' })
})
