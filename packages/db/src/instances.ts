import { DbError } from './errors.ts'
import { checkId, checkInt } from './ids.ts'
import type { Queryable } from './pool.ts'

export const INSTANCE_STATES = ['pending', 'booting', 'syncing', 'ready', 'draining', 'terminated', 'lost'] as const
export type InstanceState = typeof INSTANCE_STATES[number]

/**
 * Allowed moves, from -> to. `lost` is not final (an instance that comes back is resumed);
 * `terminated` is. Setting the state an instance already has is always allowed (idempotent).
 */
export const INSTANCE_TRANSITIONS: Readonly<Record<InstanceState, readonly InstanceState[]>> = {
  pending: ['booting', 'syncing', 'ready', 'draining', 'terminated', 'lost'],
  booting: ['syncing', 'ready', 'draining', 'terminated', 'lost'],
  syncing: ['ready', 'draining', 'terminated', 'lost'],
  ready: ['syncing', 'draining', 'terminated', 'lost'],
  draining: ['ready', 'terminated', 'lost'],
  lost: ['syncing', 'ready', 'draining', 'terminated'],
  terminated: [],
}

export interface Instance {
  id: string
  provider: string
  providerRef: string | null
  instanceType: string | null
  state: InstanceState
  capacity: number
  activeCalls: number
  pendingUploads: number
  manifestVersion: number
  agentVersion: string | null
  addr: string | null
  launchedAt: Date
  readyAt: Date | null
  drainStartedAt: Date | null
  drainDeadline: Date | null
  terminatedAt: Date | null
  lastHeartbeatAt: Date | null
  meta: Record<string, unknown>
}

interface InstanceRow {
  id: string,
  provider: string,
  provider_ref: string | null,
  instance_type: string | null,
  state: InstanceState,
  capacity: number,
  active_calls: number,
  pending_uploads: number,
  manifest_version: number,
  agent_version: string | null,
  addr: string | null,
  launched_at: Date,
  ready_at: Date | null,
  drain_started_at: Date | null,
  drain_deadline: Date | null,
  terminated_at: Date | null,
  last_heartbeat_at: Date | null,
  meta: Record<string, unknown>
}

const toInstance = (r: InstanceRow): Instance => ({
  id: r.id,
  provider: r.provider,
  providerRef: r.provider_ref,
  instanceType: r.instance_type,
  state: r.state,
  capacity: r.capacity,
  activeCalls: r.active_calls,
  pendingUploads: r.pending_uploads,
  manifestVersion: r.manifest_version,
  agentVersion: r.agent_version,
  addr: r.addr,
  launchedAt: r.launched_at,
  readyAt: r.ready_at,
  drainStartedAt: r.drain_started_at,
  drainDeadline: r.drain_deadline,
  terminatedAt: r.terminated_at,
  lastHeartbeatAt: r.last_heartbeat_at,
  meta: r.meta,
})

export interface NewInstance {
  id: string
  /** `ec2`, `local`, ... */
  provider: string
  providerRef?: string | null
  instanceType?: string | null
  addr?: string | null
  meta?: Record<string, unknown>
  state?: 'pending' | 'booting'
}

/**
 * Records an instance the controller launched. Idempotent: an id already known is returned as it
 * is (`created: false`), so a retried launch step does no harm.
 */
export async function create (db: Queryable, i: NewInstance): Promise<Instance & { created: boolean }> {
  checkId(i?.id, 'instance id')
  if (typeof i.provider !== 'string' || i.provider.length === 0) throw new DbError('FED_DB_INVALID_INPUT', 'provider is required')
  const state = i.state ?? 'pending'
  if (state !== 'pending' && state !== 'booting') throw new DbError('FED_DB_INVALID_INPUT', 'a new instance is pending or booting')
  const { rows } = await db.query<InstanceRow>(
    `INSERT INTO instances (id, provider, provider_ref, instance_type, addr, meta, state)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING *`,
    [i.id, i.provider, i.providerRef ?? null, i.instanceType ?? null, i.addr ?? null, JSON.stringify(i.meta ?? {}), state])
  if (rows[0]) return { ...toInstance(rows[0]), created: true }
  return { ...(await get(db, i.id))!, created: false }
}

export interface Heartbeat {
  instanceId: string
  activeCalls: number
  capacity: number
  manifestVersion: number
  agentVersion: string
  pendingUploads?: number
  /** The agent finished its first full audio sync. Absent: treated as true (agents that do not sync). */
  ready?: boolean
  addr?: string | null
}

/**
 * The notification channel on which a draining instance's report of no calls and no pending
 * uploads is announced (payload: its id), so the controller terminates it at once rather than
 * at its next pass: an empty instance left running is paid for.
 */
export const INSTANCE_EMPTY_CHANNEL = 'federate_instance_empty'

/**
 * Stores an instance's report. Creates the row if the instance is unknown (provider `unknown`).
 * An instance still coming up (pending, booting, syncing) or one marked lost moves to `ready`
 * or `syncing` by the report's `ready` flag; ready, draining and terminated ones keep their state
 * (the caller tells a terminated or draining instance what to do from the returned row). A draining
 * instance that reports itself empty is announced on INSTANCE_EMPTY_CHANNEL when the report commits.
 */
export async function heartbeat (db: Queryable, h: Heartbeat): Promise<Instance> {
  checkId(h?.instanceId, 'instanceId')
  checkInt(h.activeCalls, 'activeCalls')
  checkInt(h.capacity, 'capacity')
  checkInt(h.manifestVersion, 'manifestVersion')
  if (h.pendingUploads !== undefined) checkInt(h.pendingUploads, 'pendingUploads')
  if (typeof h.agentVersion !== 'string' || h.agentVersion.length > 64) throw new DbError('FED_DB_INVALID_INPUT', 'agentVersion must be a string of at most 64 characters')
  const reported: InstanceState = h.ready === false ? 'syncing' : 'ready'
  const { rows } = await db.query<InstanceRow>(
    `WITH up AS (
     INSERT INTO instances (id, state, capacity, active_calls, pending_uploads, manifest_version, agent_version, addr,
                            last_heartbeat_at, ready_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now(), CASE WHEN $2 = 'ready' THEN now() END)
     ON CONFLICT (id) DO UPDATE SET
       capacity = EXCLUDED.capacity,
       active_calls = EXCLUDED.active_calls,
       pending_uploads = EXCLUDED.pending_uploads,
       manifest_version = EXCLUDED.manifest_version,
       agent_version = EXCLUDED.agent_version,
       addr = COALESCE(EXCLUDED.addr, instances.addr),
       last_heartbeat_at = now(),
       state = CASE WHEN instances.state IN ('pending', 'booting', 'syncing', 'lost') THEN EXCLUDED.state ELSE instances.state END,
       ready_at = CASE WHEN instances.state IN ('pending', 'booting', 'syncing', 'lost') AND EXCLUDED.state = 'ready'
                       THEN COALESCE(instances.ready_at, now()) ELSE instances.ready_at END
     RETURNING *)
     SELECT up.*, CASE WHEN up.state = 'draining' AND up.active_calls = 0 AND up.pending_uploads = 0
                       THEN pg_notify($9, up.id) END AS notified
     FROM up`,
    [h.instanceId, reported, h.capacity, h.activeCalls, h.pendingUploads ?? 0, h.manifestVersion, h.agentVersion, h.addr ?? null, INSTANCE_EMPTY_CHANNEL])
  return toInstance(rows[0]!)
}

/** One instance, or null. */
export async function get (db: Queryable, id: string): Promise<Instance | null> {
  if (typeof id !== 'string') return null
  const { rows } = await db.query<InstanceRow>('SELECT * FROM instances WHERE id = $1', [id])
  return rows[0] ? toInstance(rows[0]) : null
}

/** Instances, oldest first; by default every state but `terminated`. */
export async function list (db: Queryable, { states }: { states?: readonly InstanceState[] } = {}): Promise<Instance[]> {
  const wanted = states ?? INSTANCE_STATES.filter((s) => s !== 'terminated')
  const { rows } = await db.query<InstanceRow>(
    'SELECT * FROM instances WHERE state = ANY($1::text[]) ORDER BY launched_at, id', [wanted])
  return rows.map(toInstance)
}

/**
 * Moves an instance to `to` if INSTANCE_TRANSITIONS allows it (checked and applied in one
 * statement, so two controllers cannot both win a conflicting move). Sets the matching
 * timestamps; `drainDeadline` applies to `draining`. Returns null for an unknown id; throws
 * FED_DB_INVALID_TRANSITION for a move that is not allowed.
 */
export async function setState (db: Queryable, id: string, to: InstanceState, { drainDeadline }: { drainDeadline?: Date } = {}): Promise<Instance | null> {
  if (!INSTANCE_STATES.includes(to)) throw new DbError('FED_DB_INVALID_INPUT', `unknown instance state ${JSON.stringify(to)}`)
  if (typeof id !== 'string') return null
  const from = INSTANCE_STATES.filter((s) => s === to || INSTANCE_TRANSITIONS[s].includes(to))
  const { rows } = await db.query<InstanceRow>(
    `UPDATE instances SET
       state = $2,
       ready_at = CASE WHEN $2 = 'ready' THEN COALESCE(ready_at, now()) ELSE ready_at END,
       drain_started_at = CASE WHEN $2 = 'draining' THEN COALESCE(drain_started_at, now())
                               WHEN $2 = 'ready' THEN NULL ELSE drain_started_at END,
       drain_deadline = CASE WHEN $2 = 'draining' THEN COALESCE($4, drain_deadline)
                             WHEN $2 = 'ready' THEN NULL ELSE drain_deadline END,
       terminated_at = CASE WHEN $2 = 'terminated' THEN COALESCE(terminated_at, now()) ELSE terminated_at END
     WHERE id = $1 AND state = ANY($3::text[])
     RETURNING *`,
    [id, to, from, drainDeadline ?? null])
  if (rows[0]) return toInstance(rows[0])
  const current = await get(db, id)
  if (!current) return null
  throw new DbError('FED_DB_INVALID_TRANSITION', `instance ${id}: ${current.state} -> ${to}`)
}
