import { test } from 'node:test'
import assert from 'node:assert/strict'
import { suffix } from '@federate/testkit'
import { calls, DbError, results } from '../src/index.ts'
import { useMigratedDatabase } from './helpers.ts'

const db = useMigratedDatabase()
const invalid = (err: unknown) => err instanceof DbError && err.code === 'FED_DB_INVALID_INPUT'
/** Ids of this test: `id('c-1')` is unique in the shared database. */
const ids = () => { const u = suffix(); return (name: string) => `${name}-${u}` }

const start = (callId: string, extra: Partial<calls.CallStart> = {}): calls.CallStart => ({
  callId, instanceId: 'i-1', direction: 'inbound', number: '+15550001111', caller: '+15552223333', flowId: 'main', flowVersion: 3, ...extra,
})

test('a call starts once, ends once, and a repeated start or end changes nothing and still succeeds', async () => {
  const { pool } = db
  const c1 = ids()('c')
  await calls.startCall(pool, start(c1))
  await calls.startCall(pool, start(c1, { number: 'other', instanceId: 'i-2' }))
  const active = await calls.get(pool, c1)
  assert.equal(active?.status, 'active')
  assert.equal(active?.number, '+15550001111', 'a repeated start does not overwrite')
  assert.equal(active?.instanceId, 'i-1')

  assert.equal(await calls.endCall(pool, { callId: c1, instanceId: 'i-1', cause: 'NORMAL_CLEARING', durationSec: 42.5, billSec: 40 }), true)
  const ended = await calls.get(pool, c1)
  assert.equal(ended?.status, 'ended')
  assert.equal(ended?.durationSec, 42.5)
  assert.equal(ended?.billSec, 40)
  assert.equal(ended?.cause, 'NORMAL_CLEARING')
  assert.ok(ended?.endedAt instanceof Date)

  assert.equal(await calls.endCall(pool, { callId: c1, instanceId: 'i-1', cause: 'OTHER', durationSec: 99, billSec: 99 }), false)
  assert.deepEqual(await calls.get(pool, c1), ended, 'the second end changed nothing')
  await calls.startCall(pool, start(c1))
  assert.equal((await calls.get(pool, c1))?.status, 'ended', 'a late repeated start does not reopen the call')
})

test('an end that arrives before its start creates the call, and the late start fills in what was missing', async () => {
  const { pool } = db
  const c = ids()('c-early')
  const endedAt = new Date('2026-03-01T10:00:30Z')
  await calls.endCall(pool, { callId: c, instanceId: 'i-1', cause: 'BUSY', durationSec: 30, billSec: 0, endedAt })
  const row = await calls.get(pool, c)
  assert.equal(row?.status, 'ended')
  assert.equal(row?.direction, null)
  assert.equal(row?.startedAt.toISOString(), '2026-03-01T10:00:00.000Z', 'estimated from the duration')

  const startedAt = new Date('2026-03-01T09:59:59Z')
  await calls.startCall(pool, start(c, { direction: 'outbound', campaignId: 'camp-1', attemptId: 77, startedAt }))
  const merged = await calls.get(pool, c)
  assert.equal(merged?.status, 'ended')
  assert.equal(merged?.cause, 'BUSY')
  assert.equal(merged?.direction, 'outbound')
  assert.equal(merged?.campaignId, 'camp-1')
  assert.equal(merged?.attemptId, '77')
  assert.equal(merged?.startedAt.toISOString(), startedAt.toISOString())
})

test('settleLost marks only the lost instance\'s active calls as lost, once, and a later real end wins', async () => {
  const { pool } = db
  const id = ids()
  const [lost, alive] = [id('lost'), id('alive')]
  await calls.startCall(pool, start(id('a1'), { instanceId: lost, campaignId: 'camp', attemptId: 5 }))
  await calls.startCall(pool, start(id('a2'), { instanceId: lost }))
  await calls.startCall(pool, start(id('a3'), { instanceId: lost }))
  await calls.endCall(pool, { callId: id('a3'), instanceId: lost, cause: 'NORMAL_CLEARING', durationSec: 1, billSec: 1 })
  await calls.startCall(pool, start(id('b1'), { instanceId: alive }))

  const settled = await calls.settleLost(pool, lost)
  assert.deepEqual(settled.sort((x, y) => x.callId.localeCompare(y.callId)),
    [{ callId: id('a1'), campaignId: 'camp', attemptId: '5' }, { callId: id('a2'), campaignId: null, attemptId: null }])
  assert.deepEqual(await calls.settleLost(pool, lost), [], 'idempotent')
  assert.equal((await calls.get(pool, id('a1')))?.status, 'lost')
  assert.equal((await calls.get(pool, id('a3')))?.status, 'ended')
  assert.equal((await calls.get(pool, id('b1')))?.status, 'active')
  assert.deepEqual((await calls.listActive(pool, { instanceId: alive })).map((c) => c.callId), [id('b1')])
  assert.deepEqual(await calls.listActive(pool, { instanceId: lost }), [])
  assert.ok((await calls.listActive(pool)).some((c) => c.callId === id('b1')))

  // The agent came back and resent its spooled call.end: the real outcome replaces `lost`.
  assert.equal(await calls.endCall(pool, { callId: id('a2'), instanceId: lost, cause: 'NORMAL_CLEARING', durationSec: 12, billSec: 10 }), true)
  assert.equal((await calls.get(pool, id('a2')))?.status, 'ended')
})

test('a batch of call ends with duplicates writes each call once', async () => {
  const { pool } = db
  const id = ids()
  const end = (callId: string, cause: string) => ({ callId, instanceId: 'i-1', cause, durationSec: 1, billSec: 1 })
  const changed = await calls.endCalls(pool, [end(id('x'), 'FIRST'), end(id('y'), 'FIRST'), end(id('x'), 'SECOND')])
  assert.deepEqual(changed.sort(), [id('x'), id('y')])
  assert.equal((await calls.get(pool, id('x')))?.cause, 'FIRST')
  assert.deepEqual(await calls.endCalls(pool, []), [])
})

test('bad call records are refused with FED_DB_INVALID_INPUT and unknown calls read as null', async () => {
  const { pool } = db
  const c = ids()('c')
  await assert.rejects(calls.startCall(pool, start('bad id')), invalid)
  await assert.rejects(calls.startCall(pool, start(c, { direction: 'sideways' as 'inbound' })), invalid)
  await assert.rejects(calls.startCall(pool, start(c, { attemptId: 'x' })), invalid)
  await assert.rejects(calls.startCall(pool, start(c, { flowVersion: 1.5 })), invalid)
  await assert.rejects(calls.startCall(pool, start(c, { caller: 'a\u0000b' })), invalid)
  const end = { callId: c, instanceId: 'i-1', cause: 'X', durationSec: 1, billSec: 1 }
  await assert.rejects(calls.endCall(pool, { ...end, durationSec: -1 }), invalid)
  await assert.rejects(calls.endCall(pool, { ...end, billSec: Number.NaN }), invalid)
  await assert.rejects(calls.endCall(pool, { ...end, cause: 'x'.repeat(65) }), invalid)
  await assert.rejects(calls.endCall(pool, { ...end, instanceId: '' }), invalid)
  await assert.rejects(calls.settleLost(pool, 'bad id'), invalid)
  assert.equal(await calls.get(pool, c), null)
  assert.equal(await calls.get(pool, 42 as unknown as string), null)
})

test('results are inserted in bulk idempotently: a resent batch adds nothing and keeps the first value', async () => {
  const { pool } = db
  const id = ids()
  const batch = [
    { callId: id('c-1'), node: 'q1', key: 'digits', value: '3' },
    { callId: id('c-1'), node: 'q2', key: 'digits', value: '' },
    { callId: id('c-2'), node: 'q1', key: 'digits', value: '9' },
  ]
  assert.equal(await results.insertMany(pool, batch), 3)
  assert.equal(await results.insertMany(pool, batch), 0)
  assert.equal(await results.insertMany(pool, [{ callId: id('c-1'), node: 'q1', key: 'digits', value: 'changed' }, { callId: id('c-1'), node: 'q1', key: 'status', value: 'ok' }]), 1)
  assert.equal(await results.insertMany(pool, []), 0)
  const stored = await results.listForCall(pool, id('c-1'))
  assert.deepEqual(stored.map((r) => [r.node, r.key, r.value]).sort(), [['q1', 'digits', '3'], ['q1', 'status', 'ok'], ['q2', 'digits', '']])
  assert.deepEqual(await results.listForCall(pool, id('nope')), [])
})

test('bad results are refused before anything of their batch is written', async () => {
  const { pool } = db
  const good = { callId: ids()('c-1'), node: 'q1', key: 'digits', value: '3' }
  for (const bad of [{ ...good, node: '' }, { ...good, key: 'k'.repeat(129) }, { ...good, value: 'a\u0000b' }, { ...good, callId: 'no spaces' }, { ...good, value: 3 as unknown as string }]) {
    await assert.rejects(results.insertMany(pool, [good, bad]), invalid)
  }
  assert.deepEqual(await results.listForCall(pool, good.callId), [])
})
