import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Value } from 'typebox/value'
import { DialerNextResult } from '@federate/protocol'
import { assertAccounting, campaignWith, csv, harness, numbers } from './helpers.ts'

test('due contacts are queued in a small buffer and leased to instances as protocol DialJobs', async (t) => {
  const h = await harness(t, { bufferSec: 2 })
  const c = await campaignWith(h, numbers(50), { rateCps: 10, maxConcurrent: 100, ringTimeoutSec: 25 })
  assert.deepEqual(await h.dialer.next('i-1', 10), [], 'a draft campaign hands out nothing')
  await h.dialer.start(c.id)
  const tick = await h.dialer.tick()
  assert.equal(tick.queued, 20, '2 s of work at 10 cps')
  assert.equal((await h.dialer.tick()).queued, 0, 'a second tick adds nothing: the buffer is full')

  const jobs = await h.dialer.next('i-1', 5)
  assert.equal(jobs.length, 5)
  assert.ok(Value.Check(DialerNextResult, jobs), 'the result matches the protocol')
  const j = jobs[0]!
  assert.match(j.callId, /^dial-\d+$/)
  assert.match(j.to, /^\+1212555\d{4}$/)
  assert.equal(j.from, '+15550001111')
  assert.equal(j.campaignId, c.id)
  assert.equal(j.flowRef, 'survey@1')
  assert.equal(j.vars.name?.startsWith('Person '), true)
  assert.equal(j.ringTimeoutSec, 25)
  assert.equal(j.leaseSec, 55)
  assert.equal(new Set(jobs.map((x) => x.callId)).size, 5)

  const leases = await h.pool.query('SELECT instance_id, leased_at, lease_expires_at, outcome FROM attempts WHERE campaign_id = $1', [c.id])
  assert.equal(leases.rowCount, 5)
  for (const l of leases.rows) {
    assert.equal(l.instance_id, 'i-1')
    assert.equal(l.outcome, null)
    assert.equal(l.leased_at.getTime(), h.clock.now.getTime())
    assert.equal(l.lease_expires_at.getTime() - l.leased_at.getTime(), 55_000)
  }
  const s = await h.dialer.stats(c.id)
  assert.equal(s.contacts.leased, 5)
  assert.equal(s.contacts.queued, 15)
  assert.equal(s.contacts.pending, 30)
  assert.equal(s.concurrent, 5)
  assert.deepEqual(await h.dialer.next('i-1', 0), [])
  await assertAccounting(h, c.id)
})

test('the concurrency cap bounds queued plus in-flight calls', async (t) => {
  const h = await harness(t)
  const c = await campaignWith(h, numbers(30), { rateCps: 1000, maxConcurrent: 4 })
  await h.dialer.start(c.id)
  assert.equal((await h.dialer.tick()).queued, 4)
  const jobs = await h.dialer.next('i-1', 100)
  assert.equal(jobs.length, 4)
  assert.equal((await h.dialer.tick()).queued, 0, 'four calls in flight: nothing more')
  assert.deepEqual(await h.dialer.next('i-1', 100), [])
  await h.dialer.onCallStarted(jobs[0]!.callId)
  await h.dialer.onCallEnded({ callId: jobs[0]!.callId, cause: '16', durationSec: 30, billSec: 25 })
  assert.equal((await h.dialer.tick()).queued, 1, 'one call ended: one more')
  await assertAccounting(h, c.id)
})

test('contacts are dialled only inside the calling window of their own zone', async (t) => {
  // 12:00 UTC: 08:00 in New York (closed), 14:00 in Paris (open).
  const h = await harness(t, { start: '2025-06-04T12:00:00Z' })
  const c = await h.dialer.create({ name: 'w', flowId: 'survey', callerId: '1', rateCps: 100, maxConcurrent: 100, window: { start: '09:00', end: '21:00' } })
  await h.dialer.importContacts(c.id, csv('phone\n+12125550100\n+12125550101\n+33612345678\n'))
  await h.dialer.start(c.id)
  assert.equal((await h.dialer.tick()).queued, 1)
  const first = await h.dialer.next('i-1', 10)
  assert.deepEqual(first.map((j) => j.to), ['+33612345678'])
  h.clock.set('2025-06-04T13:00:00Z') // 09:00 in New York
  assert.equal((await h.dialer.tick()).queued, 2)
  assert.deepEqual((await h.dialer.next('i-1', 10)).map((j) => j.to).sort(), ['+12125550100', '+12125550101'])
  await assertAccounting(h, c.id)
})

test('pause returns queued work and hands out nothing until resumed', async (t) => {
  const h = await harness(t)
  const c = await campaignWith(h, numbers(10), { rateCps: 1000 })
  await h.dialer.start(c.id)
  await h.dialer.tick()
  const leased = await h.dialer.next('i-1', 3)
  assert.equal(leased.length, 3)
  await h.dialer.pause(c.id)
  let s = await h.dialer.stats(c.id)
  assert.equal(s.contacts.queued, 0)
  assert.equal(s.contacts.pending, 7)
  assert.equal(s.contacts.leased, 3, 'leased calls go on')
  assert.equal((await h.dialer.tick()).queued, 0)
  assert.deepEqual(await h.dialer.next('i-1', 10), [])
  // A paused campaign's calls still settle.
  await h.dialer.onCallEnded({ callId: leased[0]!.callId, cause: 'BUSY', durationSec: 0, billSec: 0 })
  await h.dialer.resume(c.id)
  assert.equal((await h.dialer.tick()).queued, 7)
  const rest = await h.dialer.next('i-2', 100)
  assert.equal(rest.length, 7)
  assert.equal(new Set([...leased, ...rest].map((j) => j.to)).size, 10, 'no contact is handed out twice')
  s = await h.dialer.stats(c.id)
  assert.equal(s.contacts.leased, 9)
  await assertAccounting(h, c.id)
})

test('stop ends dispatching for good while calls in progress still settle', async (t) => {
  const h = await harness(t)
  const c = await campaignWith(h, numbers(10), { rateCps: 1000 })
  await h.dialer.start(c.id)
  await h.dialer.tick()
  const jobs = await h.dialer.next('i-1', 2)
  await h.dialer.stop(c.id)
  assert.equal((await h.dialer.tick()).queued, 0)
  assert.deepEqual(await h.dialer.next('i-1', 10), [])
  await h.dialer.onCallStarted(jobs[0]!.callId)
  const r = await h.dialer.onCallEnded({ callId: jobs[0]!.callId, cause: '16', durationSec: 40, billSec: 38 })
  assert.equal(r.ok && !r.duplicate && r.outcome, 'answered')
  const s = await h.dialer.stats(c.id)
  assert.equal(s.status, 'stopped')
  assert.equal(s.outcomes.answered, 1)
  assert.equal(s.contacts.queued, 0)
  await assertAccounting(h, c.id)
})

test('a handed-out job whose contact is no longer queued is dropped, not dialled', async (t) => {
  const h = await harness(t)
  const c = await campaignWith(h, numbers(3), { rateCps: 1000 })
  await h.dialer.start(c.id)
  await h.dialer.tick()
  // Another server paused and resumed between the tick and next(): contacts went back to pending.
  await h.pool.query("UPDATE contacts SET state = 'pending' WHERE campaign_id = $1", [c.id])
  assert.deepEqual(await h.dialer.next('i-1', 10), [])
  const n = await h.pool.query('SELECT count(*)::int AS n FROM attempts')
  assert.equal(n.rows[0].n, 0)
  // The next tick queues them again under the same job ids.
  assert.equal((await h.dialer.tick()).queued, 3)
  assert.equal((await h.dialer.next('i-1', 10)).length, 3)
  await assertAccounting(h, c.id)
})

test('two app servers dispatching and leasing at once never hand out a contact twice', async (t) => {
  const h = await harness(t)
  const other = h.another()
  const c = await campaignWith(h, numbers(200), { rateCps: 1000, maxConcurrent: 1000 })
  await h.dialer.start(c.id)
  const handed: string[] = []
  for (let round = 0; round < 6; round++) {
    await Promise.all([h.dialer.tick(), other.tick()])
    const [a, b] = await Promise.all([h.dialer.next('i-1', 30), other.next('i-2', 30)])
    handed.push(...a.map((j) => j.to), ...b.map((j) => j.to))
  }
  assert.ok(handed.length >= 150, `handed out ${handed.length}`)
  assert.equal(new Set(handed).size, handed.length)
  const open = await h.pool.query('SELECT count(*)::int AS n FROM attempts WHERE outcome IS NULL')
  assert.equal(open.rows[0].n, handed.length)
  await assertAccounting(h, c.id)
})

test('campaigns share next() and a global concurrency cap', async (t) => {
  const h = await harness(t)
  const a = await campaignWith(h, numbers(20), { id: 'a', rateCps: 1000 })
  const b = await campaignWith(h, numbers(20, 100), { id: 'b', rateCps: 1000 })
  await h.dialer.setGlobalCaps({ maxConcurrent: 10 })
  await h.dialer.start(a.id)
  await h.dialer.start(b.id)
  assert.equal((await h.dialer.tick()).queued, 10)
  const jobs = await h.dialer.next('i-1', 100)
  assert.equal(jobs.length, 10)
  assert.equal((await h.dialer.tick()).queued, 0)
  await h.dialer.setGlobalCaps({ maxConcurrent: null })
  await h.dialer.tick()
  const more = await h.dialer.next('i-1', 8)
  assert.equal(more.length, 8)
  const per = (x: string) => more.filter((j) => j.campaignId === x).length
  assert.equal(per('a'), 4, 'round robin across campaigns')
  assert.equal(per('b'), 4)
  await assertAccounting(h, a.id)
  await assertAccounting(h, b.id)
})
