import { test } from 'node:test'
import assert from 'node:assert/strict'
import { waitFor } from '@federate/testkit'
import { createMemoryProvider } from '@federate/scaler'
import { controllerFor, decisions, migratedDatabase, rows } from './helpers.ts'

test('two running controllers: one leads and acts, and the standby takes over within seconds when the leader\'s lock connection dies', async (t) => {
  const { pool } = await migratedDatabase(t)
  const provider = createMemoryProvider()
  const a = controllerFor(t, pool, { min: 2 }, { provider, controllerId: 'A' }).controller
  const b = controllerFor(t, pool, { min: 2 }, { provider, controllerId: 'B' }).controller
  a.start()
  await waitFor(() => a.isLeader(), { what: 'A to lead' })
  b.start()
  await waitFor(async () => (await rows(pool)).length === 2, { what: 'A to launch the minimum' })
  // B keeps trying without acting.
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.equal(b.isLeader(), false)

  // The leader's connection dies (as when its process or host dies): PostgreSQL drops the lock.
  const t0 = Date.now()
  await pool.query('SELECT pg_terminate_backend($1)', [a.lockBackendPid()])
  await waitFor(() => b.isLeader(), { timeoutMs: 5000, what: 'B to take over' })
  const tookMs = Date.now() - t0
  assert.ok(tookMs < 3000, `took ${tookMs} ms`)
  await waitFor(() => !a.isLeader(), { what: 'A to notice' })
  // B now acts: an instance lost from the provider is replaced by B.
  provider.vanish((await rows(pool))[0]!.id)
  await waitFor(async () => (await decisions(pool)).some((d) => d.action === 'lost'), { what: 'B to replace the lost instance' })
  const { rows: by } = await pool.query("SELECT controller_id FROM scaling_decisions WHERE action = 'lost'")
  assert.equal(by[0].controller_id, 'B')
  await waitFor(() => provider.starts === 3, { what: 'the replacement' })
  // A, back with a new connection, is the standby now.
  await waitFor(() => a.lockBackendPid() !== null, { what: 'A to reconnect' })
  assert.equal(a.isLeader(), false)
})

test('a leader killed in the middle of a scale-out: the new leader finishes it without launching duplicates', async (t) => {
  const { pool } = await migratedDatabase(t)
  let hold = true
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  // A's launch stops on the provider's side (a slow RunInstances) until the test lets it go.
  const provider = createMemoryProvider({ onLaunch: async () => { if (hold) await gate } })
  const a = controllerFor(t, pool, { min: 4 }, { provider, controllerId: 'A' }).controller
  const b = controllerFor(t, pool, { min: 4 }, { provider, controllerId: 'B' }).controller
  assert.equal(await a.elect(), true)
  const aPass = a.reconcileOnce()
  // The rows are written before the launch: four pending ids, nothing started yet.
  await waitFor(async () => (await rows(pool)).length === 4, { what: 'A\'s rows' })
  assert.equal(provider.starts, 0)

  await pool.query('SELECT pg_terminate_backend($1)', [a.lockBackendPid()])
  await waitFor(() => !a.isLeader(), { what: 'A to lose the lock' })
  hold = false
  assert.equal(await b.elect(), true)
  const r = await b.reconcileOnce()
  assert.equal(r.relaunched.length, 4)
  assert.equal(r.launched.length, 0)
  assert.equal(r.decision!.action, 'hold')
  assert.equal(provider.starts, 4)

  // A's launch call comes back: the provider knows those ids, A stops at its next step.
  release()
  const ra = await aPass
  assert.equal(ra.leader, false)
  assert.equal(provider.starts, 4)
  assert.equal(provider.all().length, 4)
  const all = await rows(pool)
  assert.equal(new Set(all.map((x) => x.id)).size, 4)
  assert.ok(all.every((x) => x.state === 'booting' && x.provider_ref !== null))
  assert.deepEqual(new Set(all.map((x) => x.provider_ref)).size, 4)
})
