import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { issueInstanceToken } from '@federate/db'
import { waitFor } from '@federate/testkit'
import { quantile, resultsByCall, startSim, tapTier, type TierCall } from '../helpers/e2e.ts'
import {
  awaitRecords, callsTheTierSaw, callStatusCounts, driveInbound, experienced, faultTable, hold, IVR_PROFILE, recordFault,
  since, startProxy, type FaultRow, type ProxyMode,
} from '../helpers/faults.ts'
import { startSystem } from '../helpers/system.ts'

// Fault 6: the network between the agents and one app server turns bad. A TCP proxy in the
// test stands between the agents and server A (the agents list the proxy and server B). It
// first adds 300 ms to every request, then 3 s (beyond the agent's 2 s call timeout), then
// resets every connection, then passes traffic again. Callers must not take the sorry path
// (a timed-out or cut step is resent to B: call.step is idempotent), every call must be
// recorded, and the agents must use A again by themselves once the network is good.

const IVR = '+15550100'
const CPS = 20
const PHASE_MS = 4000
const RECOVERY_BOUND_SEC = 10
const rows: FaultRow[] = []
after(() => { if (rows.length) console.log(`\n${faultTable(rows)}\n`) })

test('with one server\'s traffic delayed and then dropped callers notice at most some latency, no record is lost, and the server is used again once the network is good', { timeout: 180_000 }, async (t) => {
  const t0 = performance.now()
  const sys = await startSystem({ name: 'fault-slow-network', servers: 2, instances: 0 })
  t.after(sys.close)
  const [a, b] = sys.servers as [typeof sys.servers[0], typeof sys.servers[0]]
  const proxy = await startProxy({ host: '127.0.0.1', port: a.port })
  t.after(proxy.close)
  await sys.publishFlow('examples/flows/ivr.json', [IVR], 'ivr')
  const e = await startSim(t, {
    prefix: 'fn',
    tokenFor: async (id) => await issueInstanceToken(sys.pool, id),
    instances: 3,
    capacity: 100,
    speed: 10,
    seed: 16,
    servers: [proxy.url, b.rpcUrl],
    profile: IVR_PROFILE,
    agentSettings: { heartbeatMs: 1000, dialerIntervalMs: 5000, spoolRetryMs: 200 },
  })
  const tap = tapTier(e.agents)
  const load = driveInbound(e, IVR, CPS)
  t.after(load.stop)
  await waitFor(() => tap.attempts.some((x) => x.server === proxy.url && x.ok), { timeoutMs: 15_000, what: 'steps through the proxy' })
  await hold(1000)

  // Each phase: the steps that began in it, their latency (first attempt to answer) and what failed over.
  const phases: Array<{ name: string, from: number, to: number, sorryBefore: number, sorryAfter: number }> = []
  const run = async (name: string, mode: ProxyMode): Promise<void> => {
    proxy.set(mode)
    const from = performance.now()
    const sorryBefore = e.stats().sorry
    await hold(PHASE_MS)
    phases.push({ name, from, to: performance.now(), sorryBefore, sorryAfter: e.stats().sorry })
  }
  await run('pass', { kind: 'pass' })
  await run('+300 ms', { kind: 'delay', ms: 300 })
  await run('+3 s', { kind: 'delay', ms: 3000 })
  await run('drop', { kind: 'drop' })
  proxy.set({ kind: 'pass' })
  const goodAt = performance.now()
  const back = await waitFor(() => tap.attempts.find((x) => x.server === proxy.url && x.ok && x.startedAt > goodAt), { timeoutMs: RECOVERY_BOUND_SEC * 1000, intervalMs: 20, what: 'a step answered through the proxy again' })
  const recoverySec = (back.endedAt! - goodAt) / 1000
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
  const latency = (c: TierCall): number => c.attempts.at(-1)!.endedAt! - c.attempts[0]!.startedAt
  const perPhase = phases.map((p) => {
    const inPhase = steps.filter((c) => c.attempts[0]!.startedAt >= p.from && c.attempts[0]!.startedAt < p.to && c.attempts.at(-1)!.endedAt !== undefined)
    const lat = inPhase.map(latency)
    return {
      phase: p.name,
      steps: inPhase.length,
      viaA: inPhase.filter((c) => c.attempts.at(-1)!.server === proxy.url && c.attempts.at(-1)!.ok).length,
      failedOver: inPhase.filter((c) => c.attempts.length > 1 && c.attempts.at(-1)!.ok).length,
      p50: Math.round(quantile(lat, 0.5)),
      p99: Math.round(quantile(lat, 0.99)),
      sorry: p.sorryAfter - p.sorryBefore,
    }
  })
  const stats = proxy.stats()

  const invariants = [
    `every call the sim ended is recorded ${rec.missing.length === 0 && seen.length === x.ended ? 'ok' : 'FAILED'}`,
    `no call row left active ${(status.active ?? 0) === 0 ? 'ok' : 'FAILED'}`,
    `no sorry path ${x.sorry === 0 ? 'ok' : 'FAILED'}`,
    `recovered within ${RECOVERY_BOUND_SEC} s ${recoverySec <= RECOVERY_BOUND_SEC ? 'ok' : 'FAILED'}`,
  ]
  const row: FaultRow = {
    fault: 'slow-network',
    action: `server A behind a proxy: ${PHASE_MS / 1000} s each of pass, +300 ms, +3 s, connections reset; then pass (inbound IVR, ${CPS} calls/s)`,
    calls: x.placed,
    completed: x.completed,
    sorry: x.sorry,
    recorded: `${rec.ended}/${seen.length} ended, ${complete} with results`,
    invariants,
    recoverySec,
    recoveryWhat: 'first step answered through the proxy after the network is good',
    boundSec: RECOVERY_BOUND_SEC,
    notes: `step latency by phase (ms, first attempt to answer): ${perPhase.map((p) => `${p.phase}: ${p.steps} steps, ${p.viaA} via A, ${p.failedOver} failed over, p50 ${p.p50} / p99 ${p.p99}, sorry ${p.sorry}`).join('; ')}; proxy reset ${stats.dropped} new and cut ${stats.cut} open connections`,
    durationSec: since(t0),
  }
  rows.push(row)
  recordFault(row)
  t.diagnostic(`fault: ${JSON.stringify(row)}`)

  const slow = perPhase.find((p) => p.phase === '+300 ms')!
  const dead = perPhase.find((p) => p.phase === '+3 s')!
  assert.ok(slow.viaA > 0, 'A still answers through a 300 ms delay')
  assert.ok(dead.failedOver > 0, 'steps that timed out on A were answered by B')
  assert.equal(x.agiErrors, 0)
  assert.equal(x.sorry, 0, 'no caller took the sorry path')
  assert.equal(x.ended, x.placed)
  assert.deepEqual(rec.missing, [], 'every call the tier saw has an ended row')
  assert.equal(seen.length, x.ended)
  assert.equal(complete, seen.length, 'every call has its results')
  assert.equal(status.active ?? 0, 0)
  assert.ok(recoverySec <= RECOVERY_BOUND_SEC)
  await e.stop()
})
