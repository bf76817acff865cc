import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { waitFor } from '@federate/testkit'
import { startTestServer } from '../helpers/server.ts'
import { callRows, exampleFlow, publishFlow, quantile, resultsByCall, startChildServer, startSim, tapTier } from '../helpers/e2e.ts'

// Two app servers over one database; the agents know both. One server is a real `federate
// serve` process and is killed with SIGKILL while calls are in the middle of the IVR. The
// calls must go on through the other server, and the database must hold every call's end and
// results. The only steps allowed to fail are the ones sent to that server while it was being
// killed (the agent resends a call.step only when it is sure it was not sent): the tap on the
// agents' tier clients accounts for each of them, and docs/reliability.md reports the numbers.

const IVR = '+15550100'
const CALLS = 60
const PER_TICK = 3
const TICK_MS = 60

test('when a server is killed with SIGKILL mid-call the other carries the calls on, and every call the tier saw is complete in the database', { timeout: 120_000 }, async (t) => {
  const b = await startTestServer(t)
  await publishFlow(b, 'ivr', await exampleFlow('ivr'), [IVR])
  const a = await startChildServer(t, { databaseUrl: b.databaseUrl })

  const e = await startSim(t, {
    prefix: 'fo',
    tokenFor: b.tokenFor,
    instances: PER_TICK,
    capacity: CALLS,
    speed: 10,
    seed: 42,
    servers: [a.rpcUrl, b.rpcUrl],
    profile: {
      hangup: { rate: 0 },
      play: { promptSec: 2, interruptRate: 0 },
      gather: { noInputRate: 0, think: { medianSec: 1, sigma: 0 }, byPrompt: { 'ivr/menu': { 1: 1 } } },
      dial: { outcomes: { ANSWER: 1, BUSY: 0, NOANSWER: 0, CONGESTION: 0, CHANUNAVAIL: 0 }, ring: { medianSec: 2, sigma: 0 }, talk: { medianSec: 3, sigma: 0 } },
    },
    agentSettings: { heartbeatMs: 1000, dialerIntervalMs: 5000, spoolRetryMs: 200 },
  })
  const tap = tapTier(e.agents)

  // Calls arrive steadily; the kill comes when half of them have been placed.
  let placed = 0
  let killAt = 0
  let exitAt = 0
  let inFlightAtKill = 0
  let killed: Promise<string> | undefined
  while (placed < CALLS) {
    placed += e.place(PER_TICK, IVR)
    if (killed === undefined && placed >= CALLS / 2) {
      // Both servers must have been carrying calls.
      await waitFor(() => tap.attempts.some((x) => x.server === a.rpcUrl && x.method === 'call.step' && x.ok), { timeoutMs: 10_000, what: 'server A answering steps' })
      inFlightAtKill = e.sim.fleet.active()
      killAt = performance.now()
      killed = a.kill('SIGKILL').then((signal) => { exitAt = performance.now(); return signal })
    }
    await sleep(TICK_MS)
  }
  assert.equal(await killed, 'SIGKILL')
  assert.equal(placed, CALLS)
  await waitFor(() => e.stats().active === 0, { timeoutMs: 60_000, intervalMs: 50, what: 'every call to end in the simulator' })
  const st = e.stats()

  // Steps that never got an answer: each must have been sent to A while it was being killed.
  // An agent may still write to a kept-alive socket of A for a moment after the test saw the
  // exit (the socket's close is another event of the same loop turn): allow a short margin.
  const settledAt = exitAt + 250
  const steps = tap.calls().filter((c) => c.method === 'call.step')
  const lost = steps.filter((c) => !c.attempts.some((x) => x.ok))
  t.diagnostic(`lost: ${JSON.stringify(lost.map((c) => c.attempts.map((x) => ({ s: x.server === a.rpcUrl ? 'A' : 'B', start: Math.round(x.startedAt - killAt), end: Math.round(x.endedAt! - killAt), err: x.error, ev: c.params.event }))))}`)
  for (const c of lost) {
    const first = c.attempts[0]!
    assert.equal(c.attempts.length, 1, 'a step that was possibly sent is not resent')
    assert.equal(first.server, a.rpcUrl)
    assert.ok(first.startedAt <= settledAt && first.endedAt! >= killAt, 'a lost step was in flight at the kill')
    assert.equal(first.error, 'FED_XMLRPC_CONNECTION_LOST')
  }
  assert.equal(st.sorry, lost.length, 'only calls whose step was in flight on the killed server took the sorry path')
  assert.equal(st.agiErrors, 0)
  assert.equal(st.started.inbound, CALLS)
  assert.equal(Object.values(st.ended).reduce((x, y) => x + y, 0), CALLS, 'every call ended in the simulator')

  // Every call the tier saw is complete in the database. A call whose very first step died
  // with A never learnt its call id (the agent sets it from the answer): it ended on the sorry
  // path without a record, and its start row, if A committed it, is the only one left active.
  const lostStarts = new Set(lost.filter((c) => c.params.event === 'start').map((c) => c.params.callId as string))
  const ids = e.ids
  await waitFor(async () => (await callRows(b.deps.pool, ids)).filter((r) => r.status === 'ended').length === CALLS - lostStarts.size,
    { timeoutMs: 15_000, intervalMs: 50, what: 'every call ended in the database' })
  const rows = await callRows(b.deps.pool, ids)
  for (const r of rows.filter((x) => x.status !== 'ended')) assert.ok(lostStarts.has(r.call_id), `call ${r.call_id} is ${r.status}`)
  const ended = rows.filter((r) => r.status === 'ended')
  const sorryCalls = new Set(lost.map((c) => c.params.callId as string))
  const results = await resultsByCall(b.deps.pool, ended.map((r) => r.call_id))
  for (const r of ended) {
    if (sorryCalls.has(r.call_id)) {
      assert.equal(r.cause, '41', 'a call that took the sorry path ends with cause 41')
      continue
    }
    assert.equal(r.cause, '16')
    assert.deepEqual(results.get(r.call_id), { choice: '1', sales_dial: 'ANSWER' }, `results of ${r.call_id}`)
  }
  assert.equal(ended.filter((r) => r.cause === '16').length, CALLS - st.sorry)

  // What failing over cost: steps whose first attempt went to the dead server and whose
  // answer came from the other one.
  const failedOver = steps.filter((c) => c.attempts.length > 1 && c.attempts.at(-1)!.ok)
  const extra = failedOver.map((c) => c.attempts.at(-1)!.startedAt - c.attempts[0]!.startedAt)
  const normal = steps.filter((c) => c.attempts.length === 1 && c.attempts[0]!.ok).map((c) => c.attempts[0]!.endedAt! - c.attempts[0]!.startedAt)
  const afterKill = steps.filter((c) => c.attempts[0]!.startedAt > settledAt)
  const toDead = tap.attempts.filter((x) => x.server === a.rpcUrl && x.startedAt > settledAt)
  const inFlightOnA = tap.attempts.filter((x) => x.server === a.rpcUrl && x.startedAt <= settledAt && (x.endedAt ?? Infinity) >= killAt)
  const ms = (n: number): string => Number.isNaN(n) ? '-' : n.toFixed(1)
  const report = {
    calls: CALLS,
    inFlightAtKill,
    killToExitMs: Math.round(exitAt - killAt),
    completed: ended.filter((r) => r.cause === '16').length,
    startRowsLeftActive: rows.length - ended.length,
    sorry: st.sorry,
    attemptsInFlightOnKilledServer: inFlightOnA.length,
    lostSteps: lost.length,
    stepsAfterKill: afterKill.length,
    attemptsToDeadServerAfterKill: toDead.length,
    failedOverSteps: failedOver.length,
    extraLatencyMs: { p50: ms(quantile(extra, 0.5)), max: ms(quantile(extra, 1)) },
    stepLatencyMs: { p50: ms(quantile(normal, 0.5)), p99: ms(quantile(normal, 0.99)) },
    deadServerErrors: [...new Set(toDead.map((x) => x.error))],
  }
  t.diagnostic(`failover: ${JSON.stringify(report)}`)
  assert.ok(inFlightAtKill > 0, 'calls were in flight at the kill')
  assert.ok(afterKill.length > 0 && afterKill.every((c) => c.attempts.at(-1)!.ok && c.attempts.at(-1)!.server === b.rpcUrl),
    'every step after the kill was answered by the surviving server')
  // A step lost with the dying server is resent to the other one (call.step is idempotent).
  assert.equal(st.sorry, 0, 'no call takes the sorry path when a server dies')
  assert.equal(rows.length, ended.length, 'no call is left active')
  await e.stop()
})
