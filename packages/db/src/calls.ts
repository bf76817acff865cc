import { DbError } from './errors.ts'
import { checkId } from './ids.ts'
import type { Queryable } from './pool.ts'

export type CallDirection = 'inbound' | 'outbound'
export type CallStatus = 'active' | 'ended' | 'lost'

export interface CallStart {
  callId: string
  instanceId: string
  direction: CallDirection
  number?: string | null
  caller?: string | null
  flowId?: string | null
  flowVersion?: number | null
  campaignId?: string | null
  attemptId?: number | string | null
  /** Default: now. */
  startedAt?: Date
}

export interface CallEnd {
  callId: string
  instanceId: string
  cause: string
  durationSec: number
  billSec: number
  /** Default: now. */
  endedAt?: Date
}

export interface Call {
  callId: string
  instanceId: string
  direction: CallDirection | null
  number: string | null
  caller: string | null
  flowId: string | null
  flowVersion: number | null
  campaignId: string | null
  /** bigint: pg returns it as a string. */
  attemptId: string | null
  startedAt: Date
  endedAt: Date | null
  cause: string | null
  durationSec: number | null
  billSec: number | null
  status: CallStatus
}

interface CallRow {
  call_id: string,
  instance_id: string,
  direction: CallDirection | null,
  number: string | null,
  caller: string | null,
  flow_id: string | null,
  flow_version: number | null,
  campaign_id: string | null,
  attempt_id: string | null,
  started_at: Date,
  ended_at: Date | null,
  cause: string | null,
  duration_sec: number | null,
  bill_sec: number | null,
  status: CallStatus
}

const toCall = (r: CallRow): Call => ({
  callId: r.call_id,
  instanceId: r.instance_id,
  direction: r.direction,
  number: r.number,
  caller: r.caller,
  flowId: r.flow_id,
  flowVersion: r.flow_version,
  campaignId: r.campaign_id,
  attemptId: r.attempt_id,
  startedAt: r.started_at,
  endedAt: r.ended_at,
  cause: r.cause,
  durationSec: r.duration_sec,
  billSec: r.bill_sec,
  status: r.status,
})

function checkSeconds (value: unknown, what: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 86400) {
    throw new DbError('FED_DB_INVALID_INPUT', `${what} must be a number of seconds within [0, 86400] (got ${JSON.stringify(value)})`)
  }
}

/** Throws FED_DB_INVALID_INPUT for a start record the table would refuse. */
export function checkCallStart (r: CallStart): void {
  checkId(r?.callId, 'callId')
  checkId(r.instanceId, 'instanceId')
  if (r.direction !== 'inbound' && r.direction !== 'outbound') {
    throw new DbError('FED_DB_INVALID_INPUT', `direction must be inbound or outbound (got ${JSON.stringify(r.direction)})`)
  }
  for (const field of ['number', 'caller', 'flowId', 'campaignId'] as const) {
    const v = r[field]
    if (v != null && (typeof v !== 'string' || v.length > 256 || v.includes('\u0000'))) {
      throw new DbError('FED_DB_INVALID_INPUT', `${field} must be a string of at most 256 characters`)
    }
  }
  if (r.flowVersion != null && !Number.isInteger(r.flowVersion)) throw new DbError('FED_DB_INVALID_INPUT', 'flowVersion must be an integer')
  if (r.attemptId != null && !/^[0-9]{1,18}$/.test(String(r.attemptId))) throw new DbError('FED_DB_INVALID_INPUT', 'attemptId must be a non-negative integer')
}

/** Throws FED_DB_INVALID_INPUT for an end record the table would refuse. */
export function checkCallEnd (r: CallEnd): void {
  checkId(r?.callId, 'callId')
  checkId(r.instanceId, 'instanceId')
  if (typeof r.cause !== 'string' || r.cause.length > 64 || r.cause.includes('\u0000')) throw new DbError('FED_DB_INVALID_INPUT', 'cause must be a string of at most 64 characters')
  checkSeconds(r.durationSec, 'durationSec')
  checkSeconds(r.billSec, 'billSec')
}

// ON CONFLICT DO UPDATE refuses to touch one row twice in a statement: keep the first record per call.
function firstPerCall<T extends { callId: string }> (records: T[]): T[] {
  const seen = new Set<string>()
  return records.filter((r) => !seen.has(r.callId) && seen.add(r.callId))
}

/**
 * Records that calls started. Idempotent on callId: a repeated start changes nothing, and a start
 * arriving after its end only fills in what the end did not know (direction, number, flow, ...).
 */
export async function startCalls (db: Queryable, records: CallStart[]): Promise<void> {
  records.forEach(checkCallStart)
  const rs = firstPerCall(records)
  if (rs.length === 0) return
  await db.query(
    `INSERT INTO calls (call_id, instance_id, direction, number, caller, flow_id, flow_version, campaign_id, attempt_id, started_at)
     SELECT id, inst, dir, num, clr, fid, fver, camp, att, COALESCE(st, now())
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[], $9::bigint[], $10::timestamptz[])
       AS t(id, inst, dir, num, clr, fid, fver, camp, att, st)
     ON CONFLICT (call_id) DO UPDATE SET
       -- direction IS NULL: the row was written by call.end, whose started_at was an estimate.
       started_at = CASE WHEN calls.direction IS NULL THEN EXCLUDED.started_at ELSE calls.started_at END,
       direction = COALESCE(calls.direction, EXCLUDED.direction),
       number = COALESCE(calls.number, EXCLUDED.number),
       caller = COALESCE(calls.caller, EXCLUDED.caller),
       flow_id = COALESCE(calls.flow_id, EXCLUDED.flow_id),
       flow_version = COALESCE(calls.flow_version, EXCLUDED.flow_version),
       campaign_id = COALESCE(calls.campaign_id, EXCLUDED.campaign_id),
       attempt_id = COALESCE(calls.attempt_id, EXCLUDED.attempt_id)
     WHERE calls.direction IS NULL OR calls.number IS NULL OR calls.caller IS NULL OR calls.flow_id IS NULL
       OR calls.flow_version IS NULL OR calls.campaign_id IS NULL OR calls.attempt_id IS NULL`,
    [
      rs.map((r) => r.callId), rs.map((r) => r.instanceId), rs.map((r) => r.direction),
      rs.map((r) => r.number ?? null), rs.map((r) => r.caller ?? null), rs.map((r) => r.flowId ?? null),
      rs.map((r) => r.flowVersion ?? null), rs.map((r) => r.campaignId ?? null),
      rs.map((r) => r.attemptId == null ? null : String(r.attemptId)), rs.map((r) => r.startedAt ?? null),
    ])
}

/** One start record; see startCalls. */
export async function startCall (db: Queryable, record: CallStart): Promise<void> {
  await startCalls(db, [record])
}

/**
 * Records that calls ended; returns the ids whose row changed. Idempotent: an end for a call
 * already ended changes nothing (and is not an error). An end for a call settled as `lost` wins
 * (the agent came back with the real outcome); an end for an unknown call creates its row.
 */
export async function endCalls (db: Queryable, records: CallEnd[]): Promise<string[]> {
  records.forEach(checkCallEnd)
  const rs = firstPerCall(records)
  if (rs.length === 0) return []
  const { rows } = await db.query<{ call_id: string }>(
    `INSERT INTO calls (call_id, instance_id, started_at, ended_at, cause, duration_sec, bill_sec, status)
     SELECT id, inst, COALESCE(e, now()) - make_interval(secs => d), COALESCE(e, now()), c, d, b, 'ended'
     FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::timestamptz[]) AS t(id, inst, c, d, b, e)
     ON CONFLICT (call_id) DO UPDATE SET
       ended_at = EXCLUDED.ended_at, cause = EXCLUDED.cause, duration_sec = EXCLUDED.duration_sec,
       bill_sec = EXCLUDED.bill_sec, status = 'ended'
     WHERE calls.status <> 'ended'
     RETURNING call_id`,
    [
      rs.map((r) => r.callId), rs.map((r) => r.instanceId), rs.map((r) => r.cause),
      rs.map((r) => r.durationSec), rs.map((r) => r.billSec), rs.map((r) => r.endedAt ?? null),
    ])
  return rows.map((r) => r.call_id)
}

/** One end record; true when it changed the row (false for a repeat). See endCalls. */
export async function endCall (db: Queryable, record: CallEnd): Promise<boolean> {
  return (await endCalls(db, [record])).length > 0
}

/**
 * Marks every call still active on a lost instance as `lost` and returns them, so their
 * campaigns can retry by policy. Idempotent: a second run returns nothing.
 */
export async function settleLost (db: Queryable, instanceId: string): Promise<Array<{ callId: string, campaignId: string | null, attemptId: string | null }>> {
  checkId(instanceId, 'instanceId')
  const { rows } = await db.query<{ call_id: string, campaign_id: string | null, attempt_id: string | null }>(
    `UPDATE calls SET status = 'lost', ended_at = now(), cause = 'instance_lost',
       duration_sec = extract(epoch FROM now() - started_at)
     WHERE instance_id = $1 AND status = 'active'
     RETURNING call_id, campaign_id, attempt_id`, [instanceId])
  return rows.map((r) => ({ callId: r.call_id, campaignId: r.campaign_id, attemptId: r.attempt_id }))
}

/** One call, or null. */
export async function get (db: Queryable, callId: string): Promise<Call | null> {
  if (typeof callId !== 'string') return null
  const { rows } = await db.query<CallRow>('SELECT * FROM calls WHERE call_id = $1', [callId])
  return rows[0] ? toCall(rows[0]) : null
}

/** Active calls, optionally on one instance (oldest first). */
export async function listActive (db: Queryable, { instanceId, limit = 1000 }: { instanceId?: string, limit?: number } = {}): Promise<Call[]> {
  const { rows } = await db.query<CallRow>(
    `SELECT * FROM calls WHERE status = 'active' AND ($1::text IS NULL OR instance_id = $1)
     ORDER BY started_at LIMIT $2`, [instanceId ?? null, limit])
  return rows.map(toCall)
}
