import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { issueInstanceToken } from '@federate/db'
import { waitFor } from '@federate/testkit'
import { resultsByCall, startSim, tapTier } from '../helpers/e2e.ts'
import {
  awaitRecords, callsTheTierSaw, callStatusCounts, driveInbound, experienced, faultTable, hold, IVR_PROFILE, missing,
  recordFault, scrape, since, startPrivateMemcached, sumOf, type FaultRow,
} from '../helpers/faults.ts'
import { startSystem } from '../helpers/system.ts'

// Fault 2: Memcached stops mid-run. The app servers use a private Memcached; inbound IVR calls
// arrive at 20 per second. With Memcached gone every cache read fails open to PostgreSQL
// (counted in federate_cache_fail_open_total) and callers must not notice; once it is started
// again (empty) the servers use it again by themselves.

const IVR = '+15550100'
const CPS = 20
const DOWN_MS = 5000
const RECOVERY_BOUND_SEC = 10
const rows: FaultRow[] = []
after(() => { if (rows.length) console.log(`\n${faultTable(rows)}\n`) })

test('with Memcached stopped mid-run steps keep answering from PostgreSQL (fail-open counted), and the cache is used again soon after it restarts', { timeout: 180_000, skip: missing('memcached') }, async (t) => {
  const t0 = performance.now()
  const mc = await startPrivateMemcached()
  t.after(mc.close)
  const sys = await startSystem({ name: 'fault-memcached', servers: 2, instances: 0, env: { MEMCACHED_SERVERS: mc.address } })
  t.after(sys.close)
  const urls = sys.servers.map((s) => s.url)
  await sys.publishFlow('examples/flows/ivr.json', [IVR], 'ivr')
  const e = await startSim(t, {
    prefix: 'fm',
    tokenFor: async (id) => await issueInstanceToken(sys.pool, id),
    instances: 3,
    capacity: 80,
    speed: 10,
    seed: 12,
    servers: sys.servers.map((s) => s.rpcUrl),
    profile: IVR_PROFILE,
    agentSettings: { heartbeatMs: 1000, dialerIntervalMs: 5000, spoolRetryMs: 200 },
  })
  const tap = tapTier(e.agents)
  const load = driveInbound(e, IVR, CPS)
  t.after(load.stop)
  const counters = async () => {
    const m = await scrape(urls)
    return { hits: sumOf(m, 'federate_cache_hits_total'), failOpen: sumOf(m, 'federate_cache_fail_open_total'), errors: sumOf(m, 'federate_cache_errors_total') }
  }

  // Warm: the route lookups hit the cache.
  await waitFor(async () => (await counters()).hits > 5, { timeoutMs: 15_000, intervalMs: 200, what: 'cache hits before the fault' })
  const before = await counters()
  const sorryBefore = e.stats().sorry
  await mc.stop()
  await hold(DOWN_MS)
  const during = await counters()
  // Bad input next to the good: nothing answers on Memcached's port now.
  assert.equal(mc.running, false)
  await mc.start()
  const upAt = performance.now()
  const atStart = await counters()
  const recovered = await waitFor(async () => {
    const c = await counters()
    return c.hits > atStart.hits ? performance.now() : 0
  }, { timeoutMs: RECOVERY_BOUND_SEC * 1000, intervalMs: 100, what: 'a cache hit after Memcached restarted' })
  const recoverySec = (recovered - upAt) / 1000
  await hold(1500)
  const end = await counters()
  load.stop()
  await waitFor(() => e.stats().active === 0, { timeoutMs: 30_000, intervalMs: 50, what: 'every call to end in the simulator' })
  const x = experienced(e)
  const seen = callsTheTierSaw(tap)
  const rec = await awaitRecords(sys.pool, seen, 15_000)
  const status = await callStatusCounts(sys.pool, e.ids)
  const results = await resultsByCall(sys.pool, seen)
  const complete = seen.filter((id) => results.get(id)?.choice === '1' && results.get(id)?.sales_dial === 'ANSWER').length
  const failOpen = during.failOpen - before.failOpen

  const invariants = [
    `every call the sim ended is recorded ${rec.missing.length === 0 && seen.length === x.ended ? 'ok' : 'FAILED'}`,
    `no call row left active ${(status.active ?? 0) === 0 ? 'ok' : 'FAILED'}`,
    `no sorry path ${x.sorry === 0 ? 'ok' : 'FAILED'}`,
    `fail-open counted ${failOpen > 0 ? 'ok' : 'FAILED'}`,
    `recovered within ${RECOVERY_BOUND_SEC} s ${recoverySec <= RECOVERY_BOUND_SEC ? 'ok' : 'FAILED'}`,
  ]
  const row: FaultRow = {
    fault: 'memcached-down',
    action: `stop Memcached for ${DOWN_MS / 1000} s, start it again empty (inbound IVR, ${CPS} calls/s)`,
    calls: x.placed,
    completed: x.completed,
    sorry: x.sorry,
    recorded: `${rec.ended}/${seen.length} ended, ${complete} with results`,
    invariants,
    recoverySec,
    recoveryWhat: 'first cache hit after the restart',
    boundSec: RECOVERY_BOUND_SEC,
    notes: `${failOpen} reads failed open while it was down (${during.errors - before.errors} memcached errors); fail-open after recovery: ${end.failOpen - atStart.failOpen}; sorry before the fault: ${sorryBefore}`,
    durationSec: since(t0),
  }
  rows.push(row)
  recordFault(row)
  t.diagnostic(`fault: ${JSON.stringify(row)}`)

  assert.equal(x.agiErrors, 0)
  assert.equal(x.sorry, 0, 'no caller took the sorry path')
  assert.ok(failOpen > 0, 'reads failed open while Memcached was down')
  assert.equal(x.ended, x.placed, 'every call ended in the simulator')
  assert.deepEqual(rec.missing, [], 'every call the tier saw has an ended row')
  assert.equal(seen.length, x.ended)
  assert.equal(complete, seen.length, 'every call has its results')
  assert.equal(status.active ?? 0, 0)
  assert.ok(recoverySec <= RECOVERY_BOUND_SEC)
  await e.stop()
})
