import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { calls } from '@federate/db'
import { createDialer } from '@federate/dialer'
import { waitFor } from '@federate/testkit'
import {
  awaitCampaignDone, checkCampaign, contactsCsv, faultTable, recordFault, SHORT_POLL_PROFILE, since, type FaultRow,
} from '../helpers/faults.ts'
import { startSystem } from '../helpers/system.ts'

// Fault 5: an instance dies with its agent (SIGKILL of its simulated-fleet process) in the
// middle of a campaign. Without a controller the test takes the controller's path for a lost
// instance itself: its active calls are settled `lost` (calls.settleLost) and its open attempts
// too (the dialer's settleInstanceLost), which reschedules their contacts by the retry policy.
// The other instance goes on; the lost contacts must be dialled again, never two at once.

const CONTACTS = 200
const RATE = 20
const RECOVERY_BOUND_SEC = 15
const rows: FaultRow[] = []
after(() => { if (rows.length) console.log(`\n${faultTable(rows)}\n`) })

test('an instance killed mid-campaign has its attempts settled lost and retried by policy on the surviving instance, never two at once', { timeout: 180_000 }, async (t) => {
  const t0 = performance.now()
  // One instance per fleet process, so one can die alone. 20 channels each, under the campaign's
  // 60 concurrent: the dialer fills one instance at a time, so the victim gets calls only once
  // the other is full.
  const sys = await startSystem({ name: 'fault-instance-lost', servers: 2, instances: 2, fleetProcesses: 2, capacity: 20, speed: 10, seed: 15, profile: SHORT_POLL_PROFILE })
  t.after(sys.close)
  const fleet = sys.fleet!
  // The second process dies: the harness's combined stats follow the first.
  const victim = fleet.instanceIds[1]!
  const survivor = fleet.instanceIds[0]!
  const dialer = createDialer({ pool: sys.pool, redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix: sys.dialerPrefix })
  t.after(dialer.close)
  await sys.publishFlow('examples/flows/poll.json', [], 'poll')
  const c = await sys.createCampaign({
    name: 'fault-instance-lost',
    flowId: 'poll',
    callerId: '+15550001111',
    rateCps: RATE,
    maxConcurrent: 60,
    window: { start: '00:00', end: '24:00' },
    retryPolicy: { busy: { retry: true, delaySec: 2 }, noanswer: { retry: true, delaySec: 2 }, failed: { retry: true, delaySec: 2 }, lost: { retry: true, delaySec: 2 } },
    maxAttempts: 3,
  })
  assert.equal((await sys.importContacts(c.id, contactsCsv(CONTACTS, 4_000_000))).imported, CONTACTS)
  await sys.campaignAction(c.id, 'start')

  const openOn = async (id: string): Promise<number> => (await sys.pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM attempts WHERE campaign_id = $1 AND instance_id = $2 AND outcome IS NULL', [c.id, id])).rows[0]!.n
  await waitFor(async () => (await sys.campaignStats(c.id)).dialled >= 30 && await openOn(victim) >= 3, { timeoutMs: 30_000, intervalMs: 100, what: 'calls in flight on the victim' })
  const victimChild = fleet.children[1]!
  const exited = new Promise<string>((resolve) => victimChild.once('exit', (code, signal) => { resolve(signal ?? String(code)) }))
  victimChild.kill('SIGKILL')
  assert.equal(await exited, 'SIGKILL')
  // Its call.step starts and call.ends already sent when it died are still being written (the
  // group commit): let them land, as the controller's heartbeat limit does, so that the attempts
  // counted open and the calls settled below are the final ones.
  let last = ''
  let stable = 0
  await waitFor(async () => {
    const { rows: [r] } = await sys.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM calls WHERE instance_id = $1 AND status = 'active'", [victim])
    const now = `${r!.n}/${await openOn(victim)}`
    stable = now === last ? stable + 1 : 0
    last = now
    return stable >= 5
  }, { timeoutMs: 10_000, intervalMs: 100, what: 'the dead instance\'s last call starts and ends to be written' })
  const openAtKill = await openOn(victim)

  // The controller's path for a lost instance, taken by hand.
  const settledAt = new Date()
  const lostCalls = await calls.settleLost(sys.pool, victim)
  const lostAttempts = await dialer.settleInstanceLost(victim)
  // Bad input next to the good: settling again changes nothing (idempotent).
  assert.equal(await dialer.settleInstanceLost(victim), 0)
  assert.deepEqual(await calls.settleLost(sys.pool, victim), [])
  assert.equal(await openOn(victim), 0, 'no attempt of the lost instance is left open')
  const { rows: lostRows } = await sys.pool.query<{ contact_id: string }>(
    "SELECT contact_id::text FROM attempts WHERE campaign_id = $1 AND instance_id = $2 AND outcome = 'lost'", [c.id, victim])
  const lostContacts = lostRows.map((r) => r.contact_id)

  // Recovered: a lost contact is leased again (to the survivor) after its retry delay.
  const retried = await waitFor(async () => {
    const { rows: r } = await sys.pool.query<{ at: Date }>(
      'SELECT min(leased_at) AS at FROM attempts WHERE campaign_id = $1 AND leased_at > $2 AND contact_id = ANY($3::bigint[])', [c.id, settledAt, lostContacts])
    return r[0]!.at
  }, { timeoutMs: RECOVERY_BOUND_SEC * 1000, intervalMs: 100, what: 'a lost contact leased again' })
  const recoverySec = (retried.getTime() - settledAt.getTime()) / 1000
  const done = await awaitCampaignDone(sys.campaignStats, c.id, 90_000)
  // The fleet's stats sum the survivor's latest line and the victim's last one before it died.
  const fs = await fleet.nextStats()
  const check = await checkCampaign(sys.pool, sys.campaignStats, c.id)
  const retriedContacts = new Set(check.attempts.filter((a) => a.leased_at > settledAt && lostContacts.includes(a.contact_id)).map((a) => a.contact_id))
  const afterOnVictim = check.attempts.filter((a) => a.instance_id === victim && a.leased_at > settledAt).length
  const ended = Object.values(fs.ended).reduce((a, b) => a + b, 0)

  const invariants = [
    `lost attempts settled and retried by policy ${lostAttempts === openAtKill && retriedContacts.size === lostContacts.length ? 'ok' : 'FAILED'}`,
    `no contact dialled twice at once ${check.overlaps.length === 0 ? 'ok' : 'FAILED'}`,
    `counters add up ${check.countersOk ? 'ok' : 'FAILED'}`,
    `every dialled call recorded ${check.unrecorded.length === 0 && check.activeRows === 0 ? 'ok' : 'FAILED'}`,
    `recovered within ${RECOVERY_BOUND_SEC} s ${recoverySec <= RECOVERY_BOUND_SEC ? 'ok' : 'FAILED'}`,
  ]
  const row: FaultRow = {
    fault: 'instance-lost',
    action: `SIGKILL 1 of 2 instances (its agent and fleet process) with ${openAtKill} attempts open on it; settle it lost without a controller (campaign, ${RATE} calls/s)`,
    calls: fs.started.outbound,
    completed: ended - fs.sorry - (fs.ended.cut ?? 0),
    sorry: fs.sorry,
    recorded: `${done.dialled} dialled (${done.outcomes.lost} lost), ${lostCalls.length} call rows settled lost`,
    invariants,
    recoverySec,
    recoveryWhat: 'first lost contact leased again (retry delay 2 s)',
    boundSec: RECOVERY_BOUND_SEC,
    notes: `${lostContacts.length} contacts lost, all retried on ${survivor}; outcomes ${JSON.stringify(done.outcomes)}`,
    durationSec: since(t0),
  }
  rows.push(row)
  recordFault(row)
  t.diagnostic(`fault: ${JSON.stringify(row)}`)

  assert.ok(openAtKill > 0)
  assert.equal(lostAttempts, openAtKill, 'every open attempt of the lost instance was settled')
  assert.equal(done.outcomes.lost, lostAttempts, 'the lost attempts are counted as lost')
  assert.equal(retriedContacts.size, lostContacts.length, 'every lost contact was dialled again')
  assert.equal(afterOnVictim, 0, 'nothing was leased to the dead instance afterwards')
  assert.deepEqual(check.overlaps, [], 'no contact is dialled twice at once')
  assert.ok(check.countersOk, `dialled = answered + busy + noanswer + failed + machine + lost: ${JSON.stringify(done)}`)
  assert.deepEqual(check.unrecorded, [], 'every dialled attempt has an ended call row')
  assert.equal(check.activeRows, 0, 'no call row is left active')
  assert.equal(done.contacts.done + done.contacts.failed, CONTACTS)
  assert.ok(recoverySec <= RECOVERY_BOUND_SEC)
})
