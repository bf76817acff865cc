import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { issueInstanceToken } from '@federate/db'
import { waitFor } from '@federate/testkit'
import { startSim, tapTier } from '../helpers/e2e.ts'
import {
  awaitRecords, callsTheTierSaw, callStatusCounts, driveInbound, experienced, faultTable, hold, missing, recordFault,
  scrape, since, spooled, startPrivateMemcached, startPrivatePostgres, type FaultRow,
} from '../helpers/faults.ts'
import { startSystem } from '../helpers/system.ts'

// Fault 3: PostgreSQL restarts mid-run. The whole system runs on a PRIVATE cluster (the shared
// one on 5432 is never touched) with a private Memcached. Inbound calls run a flow of three
// prompts that stores no results, so a call in progress needs no write until its end: its steps
// come from the state token, the cached route and the parsed flow. A call.end the tier cannot
// make durable is refused (fault 1301) and waits in the agent's spool until PostgreSQL is back.
// A new call's start must be durable before it is answered, so calls arriving while PostgreSQL
// is down take the sorry path (counted, reported); no record may be lost.

const HOLD = '+15550300'
const CPS = 10
const DOWN_MS = 3000
const RECOVERY_BOUND_SEC = 15
const FLOW = {
  format: 'federate.flow/1',
  name: 'Hold line',
  start: 'one',
  nodes: {
    one: { type: 'play', prompts: ['hold/one'], next: 'two' },
    two: { type: 'play', prompts: ['hold/two'], next: 'three' },
    three: { type: 'play', prompts: ['hold/three'], next: 'end' },
    end: { type: 'hangup' },
  },
}
const rows: FaultRow[] = []
after(() => { if (rows.length) console.log(`\n${faultTable(rows)}\n`) })

test('a PostgreSQL restart mid-run loses no call record: call ends wait in the agents\' spools and are delivered after, and new calls are answered again soon after', { timeout: 180_000, skip: missing('postgres') || missing('memcached') }, async (t) => {
  const t0 = performance.now()
  const pg = await startPrivatePostgres()
  t.after(pg.close)
  const mc = await startPrivateMemcached()
  t.after(mc.close)
  const sys = await startSystem({ name: 'fault-postgres', servers: 2, instances: 0, database: await pg.createDatabase(), env: { MEMCACHED_SERVERS: mc.address } })
  t.after(sys.close)
  await sys.publishFlow(FLOW, [HOLD], 'hold')
  const e = await startSim(t, {
    prefix: 'fp',
    tokenFor: async (id) => await issueInstanceToken(sys.pool, id),
    instances: 3,
    capacity: 80,
    speed: 10,
    seed: 13,
    servers: sys.servers.map((s) => s.rpcUrl),
    // Each prompt lasts 1 s of real time: a call spans ~3 s, so many are mid-flow at the fault.
    profile: { hangup: { rate: 0 }, play: { promptSec: 10, interruptRate: 0 } },
    agentSettings: { heartbeatMs: 1000, dialerIntervalMs: 5000, spoolRetryMs: 250 },
  })
  const tap = tapTier(e.agents)
  const load = driveInbound(e, HOLD, CPS)
  t.after(load.stop)

  await waitFor(() => callsTheTierSaw(tap).length >= 20, { timeoutMs: 20_000, what: 'calls answered before the fault' })
  await hold(1000)
  const before = experienced(e)
  const inFlight = e.sim.fleet.active()
  const downAt = performance.now()
  await pg.stop()
  await hold(DOWN_MS)
  const spooledAtPeak = spooled(e)
  const duringDown = experienced(e)
  // Bad input next to the good: the database refuses connections now, and the servers say so.
  const ready = await fetch(`${sys.servers[0]!.url}/readyz`)
  assert.equal(ready.status, 503, '/readyz reports the database down')
  await pg.start()
  const upAt = performance.now()
  const outageSec = (upAt - downAt) / 1000
  // Recovered: a new call is answered (its start durable again) and the spools are empty.
  const firstNew = await waitFor(() => tap.calls().find((c) => c.method === 'call.step' && c.params.event === 'start' && c.attempts[0]!.startedAt > upAt && c.attempts.some((a) => a.ok)),
    { timeoutMs: RECOVERY_BOUND_SEC * 1000, intervalMs: 20, what: 'a new call answered after PostgreSQL is back' })
  const newCallSec = (firstNew.attempts.find((a) => a.ok)!.endedAt! - upAt) / 1000
  const drainedAt = await waitFor(() => spooled(e) === 0 ? performance.now() : 0, { timeoutMs: RECOVERY_BOUND_SEC * 1000, intervalMs: 50, what: 'the spools to drain' })
  const drainSec = (drainedAt - upAt) / 1000
  await hold(2000)
  load.stop()
  await waitFor(() => e.stats().active === 0, { timeoutMs: 30_000, intervalMs: 50, what: 'every call to end in the simulator' })
  const x = experienced(e)
  const seen = callsTheTierSaw(tap)
  const rec = await awaitRecords(sys.pool, seen, 20_000)
  const status = await callStatusCounts(sys.pool, e.ids)
  const { rows: causes } = await sys.pool.query<{ cause: string, n: number }>("SELECT cause, count(*)::int AS n FROM calls WHERE instance_id = ANY($1) AND status = 'ended' GROUP BY cause", [e.ids])
  const byCause = Object.fromEntries(causes.map((r) => [r.cause, r.n]))
  // Calls that never reached the tier: their start could not be made durable (sorry, no record).
  const neverSeen = x.ended - seen.length
  const recoverySec = Math.max(newCallSec, drainSec)
  // Why steps were refused: the servers count call.step answers by fault code.
  const m = await scrape(sys.servers.map((s) => s.url))
  const refused: Record<string, number> = {}
  for (const x of m) {
    if (x.name === 'federate_rpc_duration_seconds_count' && x.labels.method === 'call.step' && x.labels.outcome !== 'ok' && x.value > 0) refused[x.labels.outcome!] = (refused[x.labels.outcome!] ?? 0) + x.value
  }

  const invariants = [
    `every call the tier saw is recorded ${rec.missing.length === 0 ? 'ok' : 'FAILED'}`,
    `no call row left active ${(status.active ?? 0) === 0 ? 'ok' : 'FAILED'}`,
    `call ends were spooled and delivered ${spooledAtPeak > 0 && drainSec <= RECOVERY_BOUND_SEC ? 'ok' : 'FAILED'}`,
    `recovered within ${RECOVERY_BOUND_SEC} s ${recoverySec <= RECOVERY_BOUND_SEC ? 'ok' : 'FAILED'}`,
  ]
  const row: FaultRow = {
    fault: 'postgres-restart',
    action: `stop PostgreSQL (fast) for ${outageSec.toFixed(1)} s with ${inFlight} calls in flight, start it again (inbound, ${CPS} calls/s, no results)`,
    calls: x.placed,
    completed: x.completed,
    sorry: x.sorry,
    recorded: `${rec.ended}/${seen.length} ended (cause 16: ${byCause['16'] ?? 0}, 41: ${byCause['41'] ?? 0}); ${neverSeen} sorry calls never reached the tier`,
    invariants,
    recoverySec,
    recoveryWhat: `new calls answered (${newCallSec.toFixed(1)} s) and spools drained (${drainSec.toFixed(1)} s)`,
    boundSec: RECOVERY_BOUND_SEC,
    notes: `${spooledAtPeak} call ends in the spools during the outage; calls completed while it was down: ${duringDown.completed - before.completed}; sorry during the outage: ${duringDown.sorry - before.sorry}; call.step faults by code: ${JSON.stringify(refused)} (1301 start not durable, 1302 token not verifiable)`,
    durationSec: since(t0),
  }
  rows.push(row)
  recordFault(row)
  t.diagnostic(`fault: ${JSON.stringify(row)}`)

  assert.ok(inFlight > 0, 'calls were in flight at the fault')
  assert.equal(x.agiErrors, 0)
  assert.equal(x.ended, x.placed, 'every call ended in the simulator')
  assert.ok(spooledAtPeak > 0, 'call ends waited in the spools during the outage')
  assert.ok(duringDown.completed > before.completed, 'calls in progress went on to their end while PostgreSQL was down')
  assert.deepEqual(rec.missing, [], 'every call the tier saw has an ended row once PostgreSQL is back')
  assert.equal(status.active ?? 0, 0, 'no call row is left active')
  assert.equal(x.sorry, neverSeen + (byCause['41'] ?? 0), 'every sorry call is either unknown to the tier or recorded with cause 41')
  assert.ok(recoverySec <= RECOVERY_BOUND_SEC)
  await e.stop()
})
