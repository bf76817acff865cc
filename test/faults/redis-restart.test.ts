import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { waitFor } from '@federate/testkit'
import {
  awaitCampaignDone, checkCampaign, contactsCsv, faultTable, hold, missing, recordFault, SHORT_POLL_PROFILE, since,
  startPrivateRedis, type FaultRow,
} from '../helpers/faults.ts'
import { startSystem } from '../helpers/system.ts'

// Fault 4: Redis restarts mid-campaign. The app servers' dialers use a PRIVATE Redis without
// persistence, so the restart comes back empty: the BullMQ jobs of contacts already moved to
// `queued` are gone. PostgreSQL holds the truth, and the dispatcher re-adds the jobs of contacts
// queued too long (staleQueuedSec, 60 s), so the campaign must resume and finish by itself with
// every contact dialled at most once at a time and the counters adding up.

const CONTACTS = 260
const RATE = 20
const DOWN_MS = 3000
const RECOVERY_BOUND_SEC = 75
const rows: FaultRow[] = []
after(() => { if (rows.length) console.log(`\n${faultTable(rows)}\n`) })

test('a Redis restart mid-campaign (coming back empty) stalls the dialer only until it re-queues by itself; the campaign finishes with every invariant kept', { timeout: 200_000, skip: missing('redis') }, async (t) => {
  const t0 = performance.now()
  const redis = await startPrivateRedis()
  t.after(redis.close)
  const sys = await startSystem({ name: 'fault-redis', servers: 2, instances: 2, capacity: 40, speed: 10, seed: 14, profile: SHORT_POLL_PROFILE, env: { REDIS_URL: redis.url } })
  t.after(sys.close)
  const fleet = sys.fleet!
  await sys.publishFlow('examples/flows/poll.json', [], 'poll')
  const c = await sys.createCampaign({
    name: 'fault-redis',
    flowId: 'poll',
    callerId: '+15550001111',
    rateCps: RATE,
    maxConcurrent: 60,
    window: { start: '00:00', end: '24:00' },
    retryPolicy: { busy: { retry: true, delaySec: 2 }, noanswer: { retry: true, delaySec: 2 }, failed: { retry: true, delaySec: 2 }, lost: { retry: true, delaySec: 2 } },
    maxAttempts: 2,
  })
  assert.equal((await sys.importContacts(c.id, contactsCsv(CONTACTS, 3_000_000))).imported, CONTACTS)
  // Bad input next to the good: a campaign without a flow is refused.
  await assert.rejects(sys.createCampaign({ name: 'bad', callerId: '+15550001111', rateCps: RATE, maxConcurrent: 5 }), /400/)
  await sys.campaignAction(c.id, 'start')

  await waitFor(async () => (await sys.campaignStats(c.id)).dialled >= 40, { timeoutMs: 30_000, intervalMs: 200, what: '40 calls dialled before the fault' })
  const before = await sys.campaignStats(c.id)
  await redis.stop()
  const downAt = new Date()
  await hold(DOWN_MS)
  const { rows: during } = await sys.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM attempts WHERE campaign_id = $1 AND leased_at > $2', [c.id, new Date(downAt.getTime() + 500)])
  await redis.start()
  const upAt = new Date()
  // Contacts whose job was in Redis when it went away: stranded until the dispatcher re-adds them.
  const { rows: stranded } = await sys.pool.query<{ id: string }>("SELECT id::text FROM contacts WHERE campaign_id = $1 AND state = 'queued'", [c.id])
  const strandedIds = stranded.map((r) => r.id)
  // Dispatcher progress: the first lease after Redis is back, then every stranded contact leased again.
  const firstLease = await waitFor(async () => {
    const { rows: r } = await sys.pool.query<{ at: Date }>('SELECT min(leased_at) AS at FROM attempts WHERE campaign_id = $1 AND leased_at > $2', [c.id, upAt])
    return r[0]!.at
  }, { timeoutMs: RECOVERY_BOUND_SEC * 1000, intervalMs: 250, what: 'a lease after Redis came back' })
  const lastStranded = await waitFor(async () => {
    const { rows: r } = await sys.pool.query<{ n: number, at: Date }>(
      'SELECT count(DISTINCT contact_id)::int AS n, max(leased_at) AS at FROM attempts WHERE campaign_id = $1 AND leased_at > $2 AND contact_id = ANY($3::bigint[])', [c.id, upAt, strandedIds])
    return r[0]!.n === strandedIds.length ? (r[0]!.at ?? upAt) : null
  }, { timeoutMs: RECOVERY_BOUND_SEC * 1000, intervalMs: 250, what: 'every stranded contact leased again' })
  const firstLeaseSec = (firstLease.getTime() - upAt.getTime()) / 1000
  const recoverySec = (lastStranded.getTime() - upAt.getTime()) / 1000
  const done = await awaitCampaignDone(sys.campaignStats, c.id, 90_000)
  await waitFor(() => fleet.stats()?.active === 0, { timeoutMs: 20_000, what: 'the fleet to be idle' })
  const fs = await fleet.nextStats()
  const check = await checkCampaign(sys.pool, sys.campaignStats, c.id)
  const ended = Object.values(fs.ended).reduce((a, b) => a + b, 0)

  const invariants = [
    `no contact dialled twice at once ${check.overlaps.length === 0 ? 'ok' : 'FAILED'}`,
    `counters add up ${check.countersOk ? 'ok' : 'FAILED'}`,
    `every dialled call recorded ${check.unrecorded.length === 0 && check.activeRows === 0 ? 'ok' : 'FAILED'}`,
    `recovered within ${RECOVERY_BOUND_SEC} s ${recoverySec <= RECOVERY_BOUND_SEC ? 'ok' : 'FAILED'}`,
  ]
  const row: FaultRow = {
    fault: 'redis-restart',
    action: `stop Redis (no persistence) for ${DOWN_MS / 1000} s after ${before.dialled} of ${CONTACTS} contacts dialled, start it again empty (campaign, ${RATE} calls/s)`,
    calls: fs.started.outbound,
    completed: ended - fs.sorry - (fs.ended.cut ?? 0),
    sorry: fs.sorry,
    recorded: `${done.dialled} dialled attempts, all with an outcome; ${check.unrecorded.length} without a call row`,
    invariants,
    recoverySec,
    recoveryWhat: `every stranded contact leased again (${strandedIds.length} contacts; first new lease after ${firstLeaseSec.toFixed(1)} s)`,
    boundSec: RECOVERY_BOUND_SEC,
    notes: `leases while Redis was down: ${during[0]!.n}; outcomes ${JSON.stringify(done.outcomes)}; contacts done ${done.contacts.done}, failed ${done.contacts.failed}`,
    durationSec: since(t0),
  }
  rows.push(row)
  recordFault(row)
  t.diagnostic(`fault: ${JSON.stringify(row)}`)

  assert.deepEqual(check.overlaps, [], 'no contact is dialled twice at once')
  assert.ok(check.countersOk, `dialled = answered + busy + noanswer + failed + machine + lost: ${JSON.stringify(done)}`)
  assert.deepEqual(check.unrecorded, [], 'every dialled attempt has an ended call row')
  assert.equal(check.activeRows, 0)
  assert.equal(done.contacts.done + done.contacts.failed, CONTACTS, 'every contact was settled')
  assert.equal(fs.agiErrors, 0)
  assert.equal(fs.sorry, 0, 'no campaign call took the sorry path')
  assert.ok(recoverySec <= RECOVERY_BOUND_SEC)
})
