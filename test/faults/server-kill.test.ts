import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { issueInstanceToken } from '@federate/db'
import { waitFor } from '@federate/testkit'
import { quantile, resultsByCall, startSim, tapTier } from '../helpers/e2e.ts'
import { awaitRecords, callsTheTierSaw, callStatusCounts, driveInbound, experienced, faultTable, hold, IVR_PROFILE, recordFault, since, type FaultRow } from '../helpers/faults.ts'
import { startSystem } from '../helpers/system.ts'

// Fault 1: an app server dies (SIGKILL) in the middle of calls. Two `federate serve` processes
// share the database; simulated instances (each with a real agent) list both. Inbound IVR calls
// arrive at 20 per second; server A is killed, stays dead for 4 s, and is restarted on the same
// address. Callers must not notice, every call must be recorded, and the agents must put A back
// in use by themselves once it answers again.

const IVR = '+15550100'
const CPS = 20
const RECOVERY_BOUND_SEC = 10
const rows: FaultRow[] = []
after(() => { if (rows.length) console.log(`\n${faultTable(rows)}\n`) })

test('an app server killed with SIGKILL mid-call costs callers nothing, loses no record, and is back in use soon after its restart', { timeout: 180_000 }, async (t) => {
  const t0 = performance.now()
  const sys = await startSystem({ name: 'fault-server-kill', servers: 2, instances: 0 })
  t.after(sys.close)
  const [a, b] = sys.servers as [typeof sys.servers[0], typeof sys.servers[0]]
  await sys.publishFlow('examples/flows/ivr.json', [IVR], 'ivr')
  const e = await startSim(t, {
    prefix: 'fk',
    tokenFor: async (id) => await issueInstanceToken(sys.pool, id),
    instances: 3,
    capacity: 80,
    speed: 10,
    seed: 11,
    servers: [a.rpcUrl, b.rpcUrl],
    profile: IVR_PROFILE,
    agentSettings: { heartbeatMs: 1000, dialerIntervalMs: 5000, spoolRetryMs: 200 },
  })
  const tap = tapTier(e.agents)
  const load = driveInbound(e, IVR, CPS)
  t.after(load.stop)

  await waitFor(() => tap.attempts.some((x) => x.server === a.rpcUrl && x.method === 'call.step' && x.ok), { timeoutMs: 15_000, what: 'server A answering steps' })
  await hold(2000)
  const inFlight = e.sim.fleet.active()
  const killAt = performance.now()
  assert.equal(await a.kill('SIGKILL'), 'SIGKILL')
  await hold(4000)
  // Bad input next to the good: the dead server refuses connections (the agents see it too).
  await assert.rejects(fetch(`${a.url}/healthz`), 'a killed server answers nothing')
  await a.restart()
  const upAt = performance.now()
  // Recovered: the agents send steps to A again (its circuit closes after a probe), by themselves.
  const back = await waitFor(() => tap.attempts.find((x) => x.server === a.rpcUrl && x.ok && x.startedAt > upAt), { timeoutMs: RECOVERY_BOUND_SEC * 1000, intervalMs: 20, what: 'a step answered by the restarted server' })
  const recoverySec = (back.endedAt! - upAt) / 1000
  await hold(1500)
  load.stop()
  await waitFor(() => e.stats().active === 0, { timeoutMs: 30_000, intervalMs: 50, what: 'every call to end in the simulator' })
  const x = experienced(e)

  const seen = callsTheTierSaw(tap)
  const rec = await awaitRecords(sys.pool, seen, 15_000)
  const status = await callStatusCounts(sys.pool, e.ids)
  const results = await resultsByCall(sys.pool, seen)
  const complete = seen.filter((id) => results.get(id)?.choice === '1' && results.get(id)?.sales_dial === 'ANSWER').length
  const steps = tap.calls().filter((c) => c.method === 'call.step')
  const failedOver = steps.filter((c) => c.attempts.length > 1 && c.attempts.at(-1)!.ok)
  const extra = failedOver.map((c) => c.attempts.at(-1)!.startedAt - c.attempts[0]!.startedAt)

  const invariants = [
    `every call the sim ended is recorded ${rec.missing.length === 0 && seen.length === x.ended ? 'ok' : 'FAILED'}`,
    `no call row left active ${(status.active ?? 0) === 0 ? 'ok' : 'FAILED'}`,
    `no sorry path ${x.sorry === 0 ? 'ok' : 'FAILED'}`,
    `recovered within ${RECOVERY_BOUND_SEC} s ${recoverySec <= RECOVERY_BOUND_SEC ? 'ok' : 'FAILED'}`,
  ]
  const row: FaultRow = {
    fault: 'server-kill',
    action: `SIGKILL server A of 2 with ${inFlight} calls in flight, restart it 4 s later (inbound IVR, ${CPS} calls/s)`,
    calls: x.placed,
    completed: x.completed,
    sorry: x.sorry,
    recorded: `${rec.ended}/${seen.length} ended, ${complete} with results`,
    invariants,
    recoverySec,
    recoveryWhat: 'first step answered by the restarted server',
    boundSec: RECOVERY_BOUND_SEC,
    notes: `${failedOver.length} steps failed over to B (extra latency p50 ${quantile(extra, 0.5).toFixed(0)} ms, max ${quantile(extra, 1).toFixed(0)} ms); killed at ${((killAt - t0) / 1000).toFixed(1)} s`,
    durationSec: since(t0),
  }
  rows.push(row)
  recordFault(row)
  t.diagnostic(`fault: ${JSON.stringify(row)}`)

  assert.ok(inFlight > 0, 'calls were in flight at the kill')
  assert.equal(x.agiErrors, 0)
  assert.equal(x.sorry, 0, 'no caller took the sorry path')
  assert.equal(x.ended, x.placed, 'every call ended in the simulator')
  assert.deepEqual(rec.missing, [], 'every call the tier saw has an ended row')
  assert.equal(seen.length, x.ended, 'the tier saw every call')
  assert.equal(complete, seen.length, 'every call has its results (choice 1, sales answered)')
  assert.equal(status.active ?? 0, 0, 'no call row is left active')
  assert.ok(recoverySec <= RECOVERY_BOUND_SEC)
  await e.stop()
})
