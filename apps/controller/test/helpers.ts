import type { TestContext } from 'node:test'
import { createTestDatabase } from '@federate/testkit'
import { calls, createPool, instances, migrate, type DbPool } from '@federate/db'
import { createMemoryProvider, type MemoryProvider, type MemoryProviderOptions } from '@federate/scaler'
import { createController, type Controller, type ControllerConfig, type ControllerDeps } from '../src/app.ts'

// Closers of things that use a test's pool: run before the pool closes (a controller holds a
// lock connection out of the pool, and pool.end() waits for it), last created first.
const closers = new WeakMap<DbPool, Array<() => Promise<void>>>()

/** A fresh, migrated database and a pool on it, gone after the test. */
export async function migratedDatabase (t: TestContext): Promise<{ url: string, pool: DbPool }> {
  const db = await createTestDatabase('fedtest_ctl')
  const pool = createPool(db.url, { max: 8 })
  closers.set(pool, [])
  t.after(async () => {
    for (const close of closers.get(pool)!.reverse()) await close()
    await pool.close()
    await db.drop()
  })
  await migrate(db.url)
  return { url: db.url, pool }
}

/** A clock the test moves. */
export function testClock (start = Date.now()) {
  let now = start
  return { clock: () => new Date(now), advance: (ms: number) => { now += ms }, now: () => now }
}

/** Settings for tests: quick, no stabilisation unless asked. */
export const base: Partial<ControllerConfig> = {
  cluster: 'test',
  min: 1,
  max: 10,
  callsPerInstance: 100,
  headroom: 0.1,
  scaleInTolerance: 0.05,
  scaleInStabilisationSec: 0,
  heartbeatLostSec: 30,
  bootTimeoutSec: 600,
  launchGraceSec: 120,
  drainDeadlineSec: 900,
  reconcilePeriodMs: 100,
  leaderRetryMs: 100,
}

export function controllerFor (_t: TestContext, pool: DbPool, config: Partial<ControllerConfig>, deps: Partial<ControllerDeps> & { provider?: MemoryProvider, providerOptions?: MemoryProviderOptions } = {}): { controller: Controller, provider: MemoryProvider } {
  const provider = deps.provider ?? createMemoryProvider(deps.providerOptions)
  const controller = createController({ ...base, ...config }, { pool, ...deps, provider })
  closers.get(pool)!.push(async () => { await controller.close() })
  return { controller, provider }
}

/** `n` instances launched (by a controller that then steps down) on a provider to hand on, and their ids. */
export async function launchedFleet (t: TestContext, pool: DbPool, n: number): Promise<{ provider: MemoryProvider, ids: string[] }> {
  const { controller, provider } = controllerFor(t, pool, { min: n })
  await controller.elect()
  await controller.reconcileOnce()
  await controller.close()
  return { provider, ids: (await rows(pool)).map((r) => r.id) }
}

/**
 * What an agent's instance.heartbeat stores (through the app server), with the calls table agreeing
 * (every call runs call.step): calls `<id>-c0..` are active, any beyond `activeCalls` end.
 */
export async function beat (pool: DbPool, instanceId: string, { activeCalls = 0, pendingUploads = 0, capacity = 100 }: { activeCalls?: number, pendingUploads?: number, capacity?: number } = {}) {
  await startCalls(pool, instanceId, activeCalls)
  await pool.query(`UPDATE calls SET status = 'ended', ended_at = now() WHERE instance_id = $1 AND status = 'active'
    AND NOT (call_id = ANY($2::text[]))`, [instanceId, Array.from({ length: activeCalls }, (_, k) => `${instanceId}-c${k}`)])
  return await instances.heartbeat(pool, { instanceId, activeCalls, pendingUploads, capacity, manifestVersion: 0, agentVersion: 'test' })
}

/** Active calls on an instance, as call.step's start records them. */
export async function startCalls (pool: DbPool, instanceId: string, n: number, campaignId: string | null = null) {
  await calls.startCalls(pool, Array.from({ length: n }, (_, k) => ({ callId: `${instanceId}-c${k}`, instanceId, direction: 'inbound' as const, campaignId })))
}

export async function rows (pool: DbPool) {
  const { rows } = await pool.query('SELECT id, state, provider_ref, end_reason, calls_cut, launch_attempts FROM instances ORDER BY launched_at, id')
  return rows as Array<{ id: string, state: string, provider_ref: string | null, end_reason: string | null, calls_cut: number | null, launch_attempts: number }>
}

export async function decisions (pool: DbPool) {
  const { rows } = await pool.query('SELECT action, code, observed, desired, reason, instance_ids, calls_cut FROM scaling_decisions ORDER BY id')
  return rows as Array<{ action: string, code: string, observed: number, desired: number, reason: string, instance_ids: string[], calls_cut: number }>
}
