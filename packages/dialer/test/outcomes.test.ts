import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { parse } from 'csv-parse/sync'
import { assertAccounting, campaignWith, harness, numbers, type Harness } from './helpers.ts'

const policy = {
  busy: { retry: true, delaySec: 60 },
  noanswer: { retry: true, delaySec: 120 },
  failed: { retry: true, delaySec: 30 },
  machine: { retry: false, delaySec: 0 },
  lost: { retry: true, delaySec: 10 },
}

async function dialOne (h: Harness) {
  await h.dialer.tick()
  const [job] = await h.dialer.next('i-1', 1)
  assert.ok(job, 'a call is handed out')
  return job
}

async function contact (h: Harness, phone: string) {
  const r = await h.pool.query('SELECT state, attempts, next_attempt_at, last_outcome FROM contacts WHERE phone_e164 = $1', [phone])
  return r.rows[0]
}

test('every outcome follows its retry rule until the attempts run out', async (t) => {
  const h = await harness(t)
  const c = await campaignWith(h, numbers(1), { rateCps: 1000, retryPolicy: policy, maxAttempts: 4 })
  await h.dialer.start(c.id)
  const phone = numbers(1)[0]!

  // busy -> retried after 60 s
  let job = await dialOne(h)
  let r = await h.dialer.onCallEnded({ callId: job.callId, cause: 'BUSY', durationSec: 0, billSec: 0 })
  assert.equal(r.ok && !r.duplicate && r.outcome, 'busy')
  let ct = await contact(h, phone)
  assert.deepEqual([ct.state, ct.attempts, ct.last_outcome], ['pending', 1, 'busy'])
  assert.equal(ct.next_attempt_at.getTime(), h.clock.now.getTime() + 60_000)
  assert.equal((await h.dialer.tick()).queued, 0, 'not due yet')
  h.clock.advance(60)

  // noanswer -> 120 s
  job = await dialOne(h)
  assert.equal(job.to, phone)
  await h.dialer.onCallEnded({ callId: job.callId, cause: 'NOANSWER', durationSec: 0, billSec: 0 })
  ct = await contact(h, phone)
  assert.equal(ct.next_attempt_at.getTime(), h.clock.now.getTime() + 120_000)
  h.clock.advance(120)

  // failed (congestion) -> 30 s
  job = await dialOne(h)
  await h.dialer.onCallEnded({ callId: job.callId, cause: 'CONGESTION', durationSec: 0, billSec: 0 })
  ct = await contact(h, phone)
  assert.deepEqual([ct.state, ct.attempts, ct.last_outcome], ['pending', 3, 'failed'])
  h.clock.advance(30)

  // fourth and last attempt: busy again, but no attempts left -> failed for good
  job = await dialOne(h)
  r = await h.dialer.onCallEnded({ callId: job.callId, cause: 'BUSY', durationSec: 0, billSec: 0 })
  assert.equal(r.ok && !r.duplicate && r.retryAt, null)
  ct = await contact(h, phone)
  assert.deepEqual([ct.state, ct.attempts], ['failed', 4])

  const s = await h.dialer.stats(c.id)
  assert.deepEqual(s.outcomes, { answered: 0, busy: 2, noanswer: 1, failed: 1, machine: 0, lost: 0 })
  assert.equal(s.dialled, 4)
  await assertAccounting(h, c.id)
  // Nothing left: the campaign completes.
  assert.deepEqual((await h.dialer.tick()).completed, [c.id])
  assert.equal((await h.dialer.get(c.id)).status, 'completed')
})

test('answered and machine calls are final, and call.end is idempotent', async (t) => {
  const h = await harness(t)
  const c = await campaignWith(h, numbers(2), { rateCps: 1000, retryPolicy: policy })
  await h.dialer.start(c.id)
  await h.dialer.tick()
  const [a, b] = await h.dialer.next('i-1', 2)
  assert.deepEqual(await h.dialer.onCallStarted(a!.callId), { ok: true, campaignId: c.id, attemptId: a!.callId.slice(5), contactId: (await h.pool.query('SELECT contact_id::text FROM attempts WHERE call_id = $1', [a!.callId])).rows[0].contact_id, attemptNo: 1, flowRef: a!.flowRef, vars: a!.vars })
  assert.equal((await contact(h, a!.to)).state, 'dialing')
  const first = await h.dialer.onCallEnded({ callId: a!.callId, cause: '16', durationSec: 61, billSec: 55 })
  assert.equal(first.ok && !first.duplicate && first.outcome, 'answered')
  // The same call.end again, or a different one for the same call: nothing changes.
  const again = await h.dialer.onCallEnded({ callId: a!.callId, cause: '16', durationSec: 61, billSec: 55 })
  assert.deepEqual(again, { ok: true, duplicate: true, outcome: 'answered' })
  const other = await h.dialer.onCallEnded({ callId: a!.callId, cause: 'BUSY', durationSec: 0, billSec: 0 })
  assert.deepEqual(other, { ok: true, duplicate: true, outcome: 'answered' })
  await Promise.all([1, 2, 3].map(() => h.dialer.onCallEnded({ callId: b!.callId, cause: '16', amd: 'MACHINE', durationSec: 20, billSec: 18 })))
  assert.deepEqual(await contact(h, a!.to).then((x) => [x.state, x.attempts]), ['done', 1])
  assert.deepEqual(await contact(h, b!.to).then((x) => [x.state, x.attempts, x.last_outcome]), ['done', 1, 'machine'])
  const att = await h.pool.query('SELECT outcome, cause, amd, duration_sec, bill_sec FROM attempts WHERE call_id = $1', [b!.callId])
  assert.deepEqual(att.rows[0], { outcome: 'machine', cause: '16', amd: 'MACHINE', duration_sec: 20, bill_sec: 18 })
  assert.deepEqual(await h.dialer.onCallEnded({ callId: 'inbound-123', cause: '16', durationSec: 1, billSec: 1 }), { ok: false, reason: 'unknown' })
  assert.deepEqual(await h.dialer.onCallStarted('inbound-123'), { ok: false, reason: 'unknown' })
  const s = await h.dialer.stats(c.id)
  assert.equal(s.dialled, 2)
  assert.equal(s.answerRate, 0.5)
  await assertAccounting(h, c.id)
})

test('a lease not started in time goes back to its campaign without counting as an attempt', async (t) => {
  const h = await harness(t)
  const c = await campaignWith(h, numbers(3), { rateCps: 1000, ringTimeoutSec: 20 })
  await h.dialer.start(c.id)
  await h.dialer.tick()
  const jobs = await h.dialer.next('i-1', 3)
  assert.equal(jobs.length, 3)
  await h.dialer.onCallStarted(jobs[0]!.callId) // started: keeps its lease
  h.clock.advance(49)
  assert.equal(await h.dialer.reapLeases(), 0, 'leases last ring timeout + 30 s')
  h.clock.advance(2)
  assert.equal(await h.dialer.reapLeases(), 2)
  const s = await h.dialer.stats(c.id)
  assert.equal(s.expired, 2)
  assert.equal(s.dialled, 0)
  assert.equal(s.contacts.pending, 2)
  assert.equal(s.contacts.dialing, 1)
  await assertAccounting(h, c.id)
  // The expired calls are stale: starting one late is refused, a late call.end is recorded but counts nothing.
  assert.deepEqual(await h.dialer.onCallStarted(jobs[1]!.callId), { ok: false, reason: 'settled' })
  assert.deepEqual(await h.dialer.onCallEnded({ callId: jobs[1]!.callId, cause: 'NOANSWER', durationSec: 0, billSec: 0 }), { ok: true, duplicate: true, outcome: 'expired' })
  // The contacts are handed out again, with a new call id and the same attempt number.
  await h.dialer.tick()
  const again = await h.dialer.next('i-2', 10)
  assert.deepEqual(again.map((j) => j.to).sort(), [jobs[1]!.to, jobs[2]!.to].sort())
  assert.ok(again.every((j) => !jobs.some((x) => x.callId === j.callId)))
  const nos = await h.pool.query("SELECT attempt_no FROM attempts WHERE instance_id = 'i-2'")
  assert.deepEqual(nos.rows.map((r) => r.attempt_no), [1, 1])
  await assertAccounting(h, c.id)
})

test('a lost instance has its open calls settled as lost and retried by policy', async (t) => {
  const h = await harness(t)
  const c = await campaignWith(h, numbers(4), { rateCps: 1000, retryPolicy: policy })
  await h.dialer.start(c.id)
  await h.dialer.tick()
  const mine = await h.dialer.next('i-lost', 3)
  const theirs = await h.dialer.next('i-ok', 1)
  await h.dialer.onCallStarted(mine[0]!.callId)
  await h.dialer.onCallEnded({ callId: mine[2]!.callId, cause: 'BUSY', durationSec: 0, billSec: 0 })
  assert.equal(await h.dialer.settleInstanceLost('i-lost'), 2)
  assert.equal(await h.dialer.settleInstanceLost('i-lost'), 0, 'settling twice changes nothing')
  const s = await h.dialer.stats(c.id)
  assert.equal(s.outcomes.lost, 2)
  assert.equal(s.outcomes.busy, 1)
  assert.equal(s.open, 1, "the other instance's call is untouched")
  const ct = await contact(h, mine[0]!.to)
  assert.deepEqual([ct.state, ct.attempts, ct.last_outcome], ['pending', 1, 'lost'])
  assert.equal(ct.next_attempt_at.getTime(), h.clock.now.getTime() + 10_000)
  // A call.end arriving after the settlement changes nothing.
  assert.deepEqual(await h.dialer.onCallEnded({ callId: mine[0]!.callId, cause: '16', durationSec: 9, billSec: 9 }), { ok: true, duplicate: true, outcome: 'lost' })
  assert.ok(theirs.length === 1)
  await assertAccounting(h, c.id)
})

test('stats count poll answers per option and the export streams every attempt with its results', async (t) => {
  const h = await harness(t)
  const c = await campaignWith(h, numbers(3), { rateCps: 1000 })
  await h.dialer.start(c.id)
  await h.dialer.tick()
  const jobs = await h.dialer.next('i-1', 3)
  const answers = ['1', '2', '1']
  for (const [i, j] of jobs.entries()) {
    await h.dialer.onCallStarted(j.callId)
    await h.pool.query("INSERT INTO call_results (call_id, node, key, value) VALUES ($1, 'q1', 'vote', $2)", [j.callId, answers[i]])
    await h.dialer.onCallEnded({ callId: j.callId, cause: '16', durationSec: 30, billSec: 28 })
  }
  const s = await h.dialer.stats(c.id, { windowSec: 10 })
  assert.deepEqual(s.results, [
    { node: 'q1', key: 'vote', value: '1', count: 2 },
    { node: 'q1', key: 'vote', value: '2', count: 1 },
  ])
  assert.equal(s.cps, 0.3)
  assert.equal(s.answerRate, 1)
  let text = ''
  const out = new Writable({ write (chunk, _enc, cb) { text += chunk; cb() } })
  assert.equal(await h.dialer.exportCsv(c.id, out), 3)
  const rows = parse(text, { columns: true }) as Array<Record<string, string>>
  assert.equal(rows.length, 3)
  assert.deepEqual(rows.map((r) => r.outcome), ['answered', 'answered', 'answered'])
  assert.deepEqual(rows.map((r) => JSON.parse(r.results!)['q1.vote']), answers)
  assert.equal(JSON.parse(rows[0]!.vars!).name, 'Person 0')
  assert.equal(rows[0]!.phone, jobs[0]!.to)
  await assert.rejects(h.dialer.exportCsv('missing', new Writable()), { code: 'FED_DIALER_NOT_FOUND' })
  await assertAccounting(h, c.id)
})
