import { test } from 'node:test'
import assert from 'node:assert/strict'
import { calls, INSTANCE_EMPTY_CHANNEL, instances, issueInstanceToken, verifyInstanceToken } from '@federate/db'
import { waitFor } from '@federate/testkit'
import { base, beat, controllerFor, decisions, launchedFleet, migratedDatabase, rows, startCalls, testClock } from './helpers.ts'

test('the controller scales out from the load the heartbeats report, counting instances still starting, and stores why', async (t) => {
  const { pool } = await migratedDatabase(t)
  const { controller, provider } = controllerFor(t, pool, {})
  assert.equal(await controller.elect(), true)

  const first = await controller.reconcileOnce()
  assert.equal(first.decision!.code, 'below_min')
  assert.equal(first.launched.length, 1)
  const [one] = await rows(pool)
  assert.equal(one!.state, 'booting')
  assert.equal(one!.provider_ref, 'mem-1')
  assert.match(one!.id, /^test-[0-9a-f]{10}-1$/)
  // The instance got its own token, stored hashed: the app tier accepts it.
  assert.equal(await verifyInstanceToken(pool, provider.tokenOf(one!.id)), one!.id)

  await beat(pool, one!.id, { activeCalls: 350, capacity: 400 })
  const out = await controller.reconcileOnce()
  assert.equal(out.decision!.action, 'scale_out')
  assert.equal(out.decision!.desired, 4) // ceil(350 * 1.1 / 100)
  assert.equal(out.launched.length, 3)
  assert.equal(provider.starts, 4)
  // Three are starting: the same load launches nothing more.
  const again = await controller.reconcileOnce()
  assert.equal(again.decision!.action, 'hold')
  assert.equal(again.launched.length, 0)
  assert.equal(provider.starts, 4)

  const d = await decisions(pool)
  assert.deepEqual(d.map((x) => [x.action, x.code, x.observed, x.desired]), [
    ['scale_out', 'below_min', 0, 1],
    ['scale_out', 'load_up', 1, 4],
    ['hold', 'steady', 4, 4],
  ])
  assert.match(d[1]!.reason, /load 350 calls \+10% headroom needs 4 instances of 100; have 1 ready \+ 0 starting: launch 3/)
  assert.equal(d[1]!.instance_ids.length, 3)
  // An unchanged hold is not stored again.
  await controller.reconcileOnce()
  assert.equal((await decisions(pool)).length, 3)
})

test('scale-in drains the least loaded instances and terminates each once its calls reach zero', async (t) => {
  const { pool } = await migratedDatabase(t)
  const { provider, ids } = await launchedFleet(t, pool, 3)
  const load = { [ids[0]!]: 40, [ids[1]!]: 10, [ids[2]!]: 20 }
  for (const id of ids) await beat(pool, id, { activeCalls: load[id] })
  // Their calls began together: the least loaded go first.
  await pool.query("UPDATE calls SET started_at = date_trunc('minute', now())")

  const { controller } = controllerFor(t, pool, { min: 1 }, { provider })
  assert.equal(await controller.elect(), true)
  const r = await controller.reconcileOnce()
  assert.equal(r.decision!.action, 'scale_in')
  assert.deepEqual(r.drained, [ids[1], ids[2]])
  const drained = await instances.get(pool, ids[1]!)
  assert.equal(drained!.state, 'draining')
  assert.ok(drained!.drainDeadline!.getTime() > Date.now() + 800_000)

  // Still carrying calls: kept.
  await beat(pool, ids[1]!, { activeCalls: 3 })
  const wait = await controller.reconcileOnce()
  assert.deepEqual(wait.terminated, [])
  assert.equal(provider.all().filter((i) => i.state === 'terminated').length, 0)

  await beat(pool, ids[1]!, { activeCalls: 0 })
  await beat(pool, ids[2]!, { activeCalls: 0, pendingUploads: 1 })
  const done = await controller.reconcileOnce()
  assert.deepEqual(done.terminated, [{ id: ids[1], code: 'drained', callsCut: 0, pendingUploads: 0 }])
  assert.equal((await instances.get(pool, ids[1]!))!.state, 'terminated')
  assert.equal(provider.all().find((i) => i.id === ids[1])!.state, 'terminated')
  // A terminated instance's token is refused.
  assert.equal(await verifyInstanceToken(pool, provider.tokenOf(ids[1]!)), null)
  // A pending upload keeps the other one.
  assert.equal((await instances.get(pool, ids[2]!))!.state, 'draining')
  await beat(pool, ids[2]!, { activeCalls: 0, pendingUploads: 0 })
  assert.equal((await controller.reconcileOnce()).terminated[0]!.id, ids[2])

  const d = (await decisions(pool)).filter((x) => x.action === 'terminate')
  assert.equal(d.length, 2)
  assert.match(d[0]!.reason, /drained in \d+ s \(no calls, no pending uploads\): terminated/)
  assert.equal((await rows(pool)).find((x) => x.id === ids[1])!.end_reason, 'drained')
})

test('scale-in drains first the instances that will empty first: whose youngest call is oldest', async (t) => {
  const { pool } = await migratedDatabase(t)
  const { provider, ids } = await launchedFleet(t, pool, 4)
  // 0: 60 calls, all a minute old; 1: 8 calls, one just begun (a late call); 2: 50 calls, 40 s
  // old; 3: none yet. The load (118 calls) needs 2 instances: drain 2.
  const load = [60, 8, 50, 0]
  for (const [k, id] of ids.entries()) await beat(pool, id, { activeCalls: load[k] })
  await pool.query("UPDATE calls SET started_at = now() - interval '60 seconds' WHERE instance_id = $1", [ids[0]])
  await pool.query("UPDATE calls SET started_at = now() - interval '60 seconds' WHERE instance_id = $1", [ids[1]])
  await pool.query('UPDATE calls SET started_at = now() WHERE call_id = $1', [`${ids[1]}-c0`])
  await pool.query("UPDATE calls SET started_at = now() - interval '40 seconds' WHERE instance_id = $1", [ids[2]])

  const { controller } = controllerFor(t, pool, { min: 1, headroom: 0, scaleInTolerance: 0 }, { provider })
  assert.equal(await controller.elect(), true)
  const r = await controller.reconcileOnce()
  assert.equal(r.decision!.action, 'scale_in')
  // The empty one, then the one whose calls are all a minute old; not the least loaded (1).
  assert.deepEqual(r.drained, [ids[3], ids[0]])
})

test('a drain deadline terminates the instance anyway and reports the calls it cut', async (t) => {
  const { pool } = await migratedDatabase(t)
  const time = testClock()
  const { controller, provider } = controllerFor(t, pool, { min: 1, drainDeadlineSec: 60, heartbeatLostSec: 86_400 }, { clock: time.clock })
  await controller.elect()
  await controller.reconcileOnce()
  const [a] = (await rows(pool)).map((r) => r.id)
  await startCalls(pool, a!, 5)
  await beat(pool, a!, { activeCalls: 5, pendingUploads: 2 })
  // A hand-installed instance (its first heartbeat registers it) carries the load meanwhile.
  await beat(pool, 'ast-hand-1', { activeCalls: 30 })
  await instances.setState(pool, a!, 'draining', { drainDeadline: new Date(time.now() + 60_000) })

  time.advance(30_000)
  assert.deepEqual((await controller.reconcileOnce()).terminated, [])
  time.advance(31_000)
  const r = await controller.reconcileOnce()
  assert.deepEqual(r.terminated, [{ id: a, code: 'deadline', callsCut: 5, pendingUploads: 2 }])
  assert.equal(provider.all().find((i) => i.id === a)!.state, 'terminated')
  assert.equal((await calls.listActive(pool, { instanceId: a })).length, 0)
  assert.equal((await calls.get(pool, `${a}-c0`))!.status, 'lost')
  const row = (await rows(pool)).find((x) => x.id === a)!
  assert.deepEqual([row.state, row.end_reason, row.calls_cut], ['terminated', 'drain deadline', 5])
  const d = (await decisions(pool)).find((x) => x.action === 'terminate')!
  assert.equal(d.code, 'deadline')
  assert.equal(d.calls_cut, 5)
  assert.match(d.reason, /drain deadline \(60 s\) passed with 5 call\(s\) and 2 pending upload\(s\): terminated, 5 call\(s\) cut/)
})

test('an instance that stops sending heartbeats is lost: its calls and attempts are settled and it is replaced', async (t) => {
  const { pool } = await migratedDatabase(t)
  const settled: string[] = []
  const { controller, provider } = controllerFor(t, pool, { min: 2 }, { settleAttempts: async (id) => { settled.push(id); return 4 } })
  await controller.elect()
  await controller.reconcileOnce()
  const [a, b] = (await rows(pool)).map((r) => r.id)
  await beat(pool, a!, { activeCalls: 3 })
  await beat(pool, b!, { activeCalls: 1 })
  await startCalls(pool, a!, 3)
  const token = provider.tokenOf(a!)
  // a went silent 45 s ago.
  await pool.query("UPDATE instances SET last_heartbeat_at = now() - interval '45 seconds' WHERE id = $1", [a])

  const r = await controller.reconcileOnce()
  assert.equal(r.lost.length, 1)
  assert.deepEqual({ ...r.lost[0], reason: undefined }, { id: a, code: 'heartbeat', reason: undefined, callsSettled: 3, attemptsSettled: 4 })
  assert.match(r.lost[0]!.reason, /no heartbeat for 4\d s \(limit 30 s\)/)
  assert.deepEqual(settled, [a])
  assert.equal((await calls.get(pool, `${a}-c1`))!.status, 'lost')
  assert.equal(provider.all().find((i) => i.id === a)!.state, 'terminated')
  assert.equal(await verifyInstanceToken(pool, token), null)
  const row = (await rows(pool)).find((x) => x.id === a)!
  assert.equal(row.state, 'terminated')
  assert.match(row.end_reason!, /^lost: no heartbeat/)
  assert.equal(row.calls_cut, 3)
  // Replaced in the same pass.
  assert.equal(r.launched.length, 1)
  assert.equal(r.decision!.observed, 1)
  assert.deepEqual((await decisions(pool)).map((x) => x.action), ['scale_out', 'lost', 'scale_out'])
})

test('an instance that never reports, or that the provider no longer runs, is lost and replaced', async (t) => {
  const { pool } = await migratedDatabase(t)
  const time = testClock()
  const { controller, provider } = controllerFor(t, pool, { min: 2, bootTimeoutSec: 300, heartbeatLostSec: 86_400 }, { clock: time.clock })
  await controller.elect()
  await controller.reconcileOnce()
  const [a, b] = (await rows(pool)).map((r) => r.id)
  await beat(pool, b!)
  provider.vanish(b!)
  const r1 = await controller.reconcileOnce()
  assert.deepEqual(r1.lost.map((l) => [l.id, l.code]), [[b, 'vanished']])
  assert.match(r1.lost[0]!.reason, /the provider reports it terminated/)
  assert.equal(r1.launched.length, 1)
  time.advance(301_000)
  const r2 = await controller.reconcileOnce()
  assert.ok(r2.lost.some((l) => l.id === a && l.code === 'boot_timeout'))
})

test('a failed launch is retried under the same id, and given up after maxLaunchAttempts', async (t) => {
  const { pool } = await migratedDatabase(t)
  let failures = 3
  const { controller, provider } = controllerFor(t, pool, { min: 1, maxLaunchAttempts: 3 }, {
    providerOptions: { onLaunch: () => { if (failures-- > 0) throw new Error('InsufficientInstanceCapacity everywhere') } },
  })
  await controller.elect()
  const r1 = await controller.reconcileOnce()
  const id = r1.failedLaunches[0]!.id
  assert.equal((await rows(pool))[0]!.launch_attempts, 1)
  const r2 = await controller.reconcileOnce()
  assert.equal(r2.failedLaunches[0]!.id, id)
  assert.equal(r2.launched.length, 0) // the pending row counts as starting: no second id yet
  const r3 = await controller.reconcileOnce()
  assert.equal(r3.failedLaunches[0]!.id, id)
  // Given up: terminated, and a new id launched in the same pass.
  const all = await rows(pool)
  assert.equal(all.find((x) => x.id === id)!.state, 'terminated')
  assert.match(all.find((x) => x.id === id)!.end_reason!, /launch failed 3 times: InsufficientInstanceCapacity/)
  assert.equal(r3.launched.length, 1)
  assert.equal(provider.starts, 1)
  assert.ok((await decisions(pool)).some((x) => x.action === 'launch_failed'))
})

test('a standby never acts, and a controller that is not leading reports so', async (t) => {
  const { pool } = await migratedDatabase(t)
  const a = controllerFor(t, pool, {})
  const b = controllerFor(t, pool, {}, { provider: a.provider })
  assert.equal(await a.controller.elect(), true)
  assert.equal(await b.controller.elect(), false)
  assert.equal((await b.controller.reconcileOnce()).leader, false)
  assert.equal(a.provider.starts, 0)
  assert.equal((await a.controller.reconcileOnce()).launched.length, 1)
  assert.equal(base.cluster, 'test')
})

test('a running campaign\'s demand scales the fleet out before its calls arrive, within its caps', async (t) => {
  const { pool } = await migratedDatabase(t)
  await pool.query("INSERT INTO flows (id, name) VALUES ('poll', 'Poll')")
  await pool.query(`INSERT INTO campaigns (id, name, flow_id, caller_id, rate_cps, max_concurrent, retry_policy, status)
    VALUES ('spring', 'Spring poll', 'poll', '+15550000000', 10, 500, '{}', 'running'), ('draft', 'Not yet', 'poll', '+15550000000', 50, 5000, '{}', 'draft')`)
  await pool.query(`INSERT INTO contacts (campaign_id, phone_e164, time_zone)
    SELECT c, '+1555' || lpad(g::text, 7, '0'), 'America/New_York' FROM generate_series(1, 1000) g, unnest(ARRAY['spring', 'draft']) c`)
  const { controller } = controllerFor(t, pool, { min: 1, max: 10, campaignHoldSec: 60 })
  await controller.elect()
  const r = await controller.reconcileOnce()
  // No instance measured yet: the default lead (90 s + the period) sees 10 calls/s x 60 s = 600,
  // capped at 500 concurrent (no headroom on campaign calls by default): 5 instances.
  assert.equal(r.decision!.load, 500)
  assert.equal(r.launched.length, 5)
  const d = (await decisions(pool))[0]!
  assert.equal(d.desired, 5)
  const { rows: [row] } = await pool.query('SELECT campaign_demand, details FROM scaling_decisions LIMIT 1')
  assert.equal(row.campaign_demand, 500)
  assert.deepEqual(row.details.campaigns, [{ id: 'spring', demand: 500, limitedBy: 'cap' }])
})

test('a hand-installed instance that goes silent is marked lost and its calls settled, but keeps its token and comes back', async (t) => {
  const { pool } = await migratedDatabase(t)
  const { controller } = controllerFor(t, pool, { min: 0 })
  await controller.elect()
  const token = await issueInstanceToken(pool, 'ast-hand-1')
  await beat(pool, 'ast-hand-1', { activeCalls: 2 })
  await startCalls(pool, 'ast-hand-1', 2)
  await pool.query("UPDATE instances SET last_heartbeat_at = now() - interval '45 seconds' WHERE id = 'ast-hand-1'")
  const r = await controller.reconcileOnce()
  assert.deepEqual(r.lost.map((l) => [l.id, l.callsSettled]), [['ast-hand-1', 2]])
  assert.equal((await instances.get(pool, 'ast-hand-1'))!.state, 'lost')
  assert.equal(await verifyInstanceToken(pool, token), 'ast-hand-1')
  // Nothing more to do on the next pass; its next heartbeat resumes it.
  assert.deepEqual((await controller.reconcileOnce()).lost, [])
  assert.equal((await beat(pool, 'ast-hand-1')).state, 'ready')
})

test('a draining instance that reports itself empty is terminated at once, not at the next pass', async (t) => {
  const { pool } = await migratedDatabase(t)
  // Passes a minute apart: only the heartbeat's NOTIFY can explain a termination within seconds.
  const { controller, provider } = controllerFor(t, pool, { min: 1, reconcilePeriodMs: 60_000 })
  await controller.elect()
  await controller.reconcileOnce()
  const [one] = await rows(pool)
  await beat(pool, one!.id, { activeCalls: 5 })
  await instances.setState(pool, one!.id, 'draining', { drainDeadline: new Date(Date.now() + 600_000) })
  controller.start()
  await waitFor(() => controller.isLeader(), { what: 'the leader to listen' })
  await new Promise((resolve) => setTimeout(resolve, 300))
  // Still carrying calls: the heartbeat announces nothing, the instance stays.
  await beat(pool, one!.id, { activeCalls: 2 })
  await new Promise((resolve) => setTimeout(resolve, 500))
  assert.equal((await instances.get(pool, one!.id))!.state, 'draining')
  // Empty: terminated within moments, as the app server stores the heartbeat.
  const at = Date.now()
  await beat(pool, one!.id, { activeCalls: 0 })
  await waitFor(async () => (await instances.get(pool, one!.id))!.state === 'terminated', { timeoutMs: 5000, what: 'the termination' })
  assert.ok(Date.now() - at < 3000, `took ${Date.now() - at} ms`)
  assert.equal(provider.all().find((i) => i.id === one!.id)!.state, 'terminated')
  // Announced by the heartbeat statement itself, to any listener.
  const listener = await pool.connect()
  try {
    const heard: string[] = []
    listener.on('notification', (n) => { heard.push(`${n.channel}:${n.payload ?? ''}`) })
    await listener.query(`LISTEN ${INSTANCE_EMPTY_CHANNEL}`)
    const report = async (activeCalls: number, pendingUploads = 0) => await instances.heartbeat(pool, { instanceId: 'hand-1', activeCalls, pendingUploads, capacity: 100, manifestVersion: 0, agentVersion: 'test' })
    await report(0)
    await instances.setState(pool, 'hand-1', 'draining')
    await report(1)
    await report(0, 1)
    await report(0)
    await waitFor(() => heard.length > 0, { what: 'the notification' })
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.deepEqual(heard, [`${INSTANCE_EMPTY_CHANNEL}:hand-1`], 'ready, or with calls or uploads: silent')
  } finally {
    await listener.query('UNLISTEN *').catch(() => {})
    listener.release()
  }
})
