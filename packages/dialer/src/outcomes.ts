import type pg from 'pg'
import { campaignFromRow } from './campaign.ts'
import { type DialerContext, inTransaction } from './context.ts'
import { classifyOutcome, type Outcome } from './outcome.ts'
import { finalState, nextAttempt } from './retry-policy.ts'

export type CallStarted =
  | { ok: true, campaignId: string, attemptId: string, contactId: string, attemptNo: number, flowRef: string, vars: Record<string, string> }
  /** `unknown`: not a campaign call. `settled`: the attempt is closed (its lease expired, or it was settled). */
  | { ok: false, reason: 'unknown' | 'settled' }

/** Marks an outbound campaign call as started (its first call.step). Idempotent. */
export async function callStarted (ctx: DialerContext, callId: string): Promise<CallStarted> {
  const r = await ctx.pool.query(`
    WITH a AS (
      UPDATE attempts SET started_at = coalesce(started_at, $2) WHERE call_id = $1 AND outcome IS NULL
      RETURNING id, contact_id, campaign_id, attempt_no),
    c AS (UPDATE contacts c SET state = 'dialing' FROM a WHERE c.id = a.contact_id AND c.state = 'leased' RETURNING c.id)
    SELECT a.id::text, a.contact_id::text, a.campaign_id, a.attempt_no, cp.flow_id, cp.flow_version, ct.vars
    FROM a JOIN campaigns cp ON cp.id = a.campaign_id JOIN contacts ct ON ct.id = a.contact_id`, [callId, ctx.clock()])
  if (r.rows[0]) {
    const a = r.rows[0]
    // The call runs the flow version pinned when the campaign started, with the contact's fields as variables.
    const vars = Object.fromEntries(Object.entries((a.vars ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(v)]))
    return { ok: true, campaignId: a.campaign_id, attemptId: a.id, contactId: a.contact_id, attemptNo: a.attempt_no, flowRef: `${a.flow_id}@${a.flow_version}`, vars }
  }
  const known = await ctx.pool.query('SELECT 1 FROM attempts WHERE call_id = $1', [callId])
  return { ok: false, reason: known.rowCount ? 'settled' : 'unknown' }
}

export interface CallEnded {
  callId: string
  cause: string
  /** The AMD verdict the flow recorded (HUMAN | MACHINE | NOTSURE). */
  amd?: string | null
  durationSec: number
  billSec: number
}

export type CallEndResult =
  | { ok: true, duplicate: false, outcome: Outcome, retryAt: Date | null }
  | { ok: true, duplicate: true, outcome: string }
  | { ok: false, reason: 'unknown' }

/**
 * Settles an attempt from its call.end: classifies the outcome, records it once, and schedules
 * the contact by the campaign's retry policy. A second call.end for the same call changes
 * nothing (the attempt row is locked and already has its outcome).
 */
export async function callEnded (ctx: DialerContext, end: CallEnded): Promise<CallEndResult> {
  const now = ctx.clock()
  return await inTransaction(ctx.pool, async (db) => {
    const rows = await lockAttempts(db, 'a.call_id = $1', [end.callId])
    const a = rows[0]
    if (!a) return { ok: false, reason: 'unknown' }
    if (a.outcome !== null) {
      // A late call.end for a lease that expired unstarted: keep what it says for the record.
      if (a.outcome === 'expired') {
        await db.query(`UPDATE attempts SET cause = coalesce(cause, $2), amd = coalesce(amd, $3),
          duration_sec = coalesce(duration_sec, $4), bill_sec = coalesce(bill_sec, $5) WHERE id = $1`,
        [a.id, end.cause, end.amd ?? null, end.durationSec, end.billSec])
      }
      return { ok: true, duplicate: true, outcome: a.outcome }
    }
    const outcome = classifyOutcome(end)
    const [settled] = await settle(db, [a], () => ({ outcome, cause: end.cause, amd: end.amd ?? null, durationSec: end.durationSec, billSec: end.billSec }), now)
    return { ok: true, duplicate: false, outcome, retryAt: settled!.retryAt }
  })
}

/**
 * Settles every open attempt of a lost instance as `lost` (rescheduled by the retry policy).
 * Returns how many attempts were settled.
 */
export async function settleInstanceLost (ctx: DialerContext, instanceId: string): Promise<number> {
  const now = ctx.clock()
  return await inTransaction(ctx.pool, async (db) => {
    const rows = await lockAttempts(db, 'a.instance_id = $1 AND a.outcome IS NULL', [instanceId])
    await settle(db, rows, () => ({ outcome: 'lost', cause: 'instance lost', amd: null, durationSec: null, billSec: null }), now)
    return rows.length
  })
}

interface LockedAttempt {
  id: string
  contact_id: string
  outcome: string | null
  contact_attempts: number
  campaign: Record<string, any>
}

async function lockAttempts (db: pg.PoolClient, where: string, params: unknown[]): Promise<LockedAttempt[]> {
  const r = await db.query(`
    SELECT a.id::text, a.contact_id::text, a.outcome, c.attempts AS contact_attempts,
      to_jsonb(k) AS campaign
    FROM attempts a JOIN contacts c ON c.id = a.contact_id JOIN campaigns k ON k.id = a.campaign_id
    WHERE ${where} ORDER BY a.id FOR UPDATE OF a, c`, params)
  return r.rows
}

interface Settlement {
  outcome: Outcome
  cause: string | null
  amd: string | null
  durationSec: number | null
  billSec: number | null
}

// Records outcomes and reschedules contacts, all rows in two statements.
async function settle (db: pg.PoolClient, rows: LockedAttempt[], what: (a: LockedAttempt) => Settlement, now: Date) {
  if (rows.length === 0) return []
  const out = rows.map((a) => {
    const s = what(a)
    const policy = campaignFromRow(a.campaign).retryPolicy
    const attempts = a.contact_attempts + 1
    const next = nextAttempt(s.outcome, attempts, now, policy)
    const retryAt = 'retryAt' in next ? next.retryAt : null
    return { a, s, attempts, retryAt, state: retryAt ? 'pending' : finalState(s.outcome) }
  })
  await db.query(`
    UPDATE attempts a SET outcome = x.outcome, ended_at = $1, cause = x.cause, amd = x.amd,
      duration_sec = x.duration_sec, bill_sec = x.bill_sec
    FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::float8[], $7::float8[])
      AS x(id, outcome, cause, amd, duration_sec, bill_sec)
    WHERE a.id = x.id`, [now, out.map((o) => o.a.id), out.map((o) => o.s.outcome), out.map((o) => o.s.cause),
    out.map((o) => o.s.amd), out.map((o) => o.s.durationSec), out.map((o) => o.s.billSec)])
  await db.query(`
    UPDATE contacts c SET attempts = c.attempts + 1, last_outcome = x.outcome, state = x.state,
      next_attempt_at = coalesce(x.retry_at, c.next_attempt_at), queued_at = NULL
    FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[]) AS x(id, outcome, state, retry_at)
    WHERE c.id = x.id`, [out.map((o) => o.a.contact_id), out.map((o) => o.s.outcome), out.map((o) => o.state), out.map((o) => o.retryAt)])
  return out
}
