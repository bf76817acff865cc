import type { Job } from 'bullmq'
import type { DialerContext } from './context.ts'
import { limiterFor } from './pacing.ts'
import type { DialJobData } from './queues.ts'

/** One call for an instance to originate (the protocol's DialJob). */
export interface DialJob {
  callId: string
  to: string
  from: string
  campaignId: string
  flowRef: string
  vars: Record<string, string>
  ringTimeoutSec: number
  leaseSec: number
}

export interface RunningCampaign {
  id: string
  rateCps: number
  /** In its last minutes of dialling (see wind-down.ts): placement offers no gaps. */
  windingDown?: boolean
}

/**
 * Leases up to `free` calls to `instanceId`: pulls jobs round-robin from the running campaigns'
 * queues (each as its BullMQ limiter allows), turns each into an attempt row in one statement,
 * then completes the jobs in Redis. A job whose contact is no longer queued for that attempt
 * (paused, stopped, a duplicate or stale job) is dropped, so PostgreSQL decides what is dialled.
 * If PostgreSQL fails, the jobs are put back in their queues and the error is thrown.
 */
export async function leaseCalls (ctx: DialerContext, running: RunningCampaign[], instanceId: string, free: number, rotate: number): Promise<DialJob[]> {
  if (free <= 0 || running.length === 0 || !ctx.queues.ready) return []
  const taken: Array<Job<DialJobData>> = []
  let active = running.map((_, i) => running[(i + rotate) % running.length]!)
  let remaining = free
  while (remaining > 0 && active.length > 0) {
    const share = Math.max(1, Math.ceil(remaining / active.length))
    const next: RunningCampaign[] = []
    for (const c of active) {
      if (remaining <= 0) break
      const want = Math.min(share, remaining)
      const jobs = await ctx.queues.take(c.id, want, limiterFor(c.rateCps))
      taken.push(...jobs)
      remaining -= jobs.length
      // Fewer than asked: empty or rate-limited for this window; no use asking again now.
      if (jobs.length === want) next.push(c)
    }
    active = next
  }
  if (taken.length === 0) return []
  const now = ctx.clock()
  let rows: Array<Record<string, any>>
  try {
    const r = await ctx.pool.query(`
      WITH j AS (SELECT * FROM unnest($1::bigint[], $2::int[]) AS j(contact_id, attempt_no)),
      c AS (
        UPDATE contacts c SET state = 'leased', queued_at = NULL
        FROM j, campaigns k
        WHERE c.id = j.contact_id AND c.state = 'queued' AND c.attempts + 1 = j.attempt_no
          AND k.id = c.campaign_id AND k.status = 'running'
        RETURNING c.id AS contact_id, c.campaign_id, c.phone_e164, c.vars, j.attempt_no,
          k.caller_id, k.flow_id, k.flow_version, k.ring_timeout_sec),
      n AS MATERIALIZED (SELECT nextval(pg_get_serial_sequence('attempts', 'id')) AS attempt_id, c.* FROM c),
      a AS (
        INSERT INTO attempts (id, contact_id, campaign_id, attempt_no, call_id, instance_id, leased_at, lease_expires_at)
        SELECT attempt_id, contact_id, campaign_id, attempt_no, 'dial-' || attempt_id, $3, $4::timestamptz,
          $4::timestamptz + make_interval(secs => ring_timeout_sec + $5::int)
        FROM n RETURNING id)
      SELECT n.*, 'dial-' || n.attempt_id AS call_id FROM n ORDER BY n.attempt_id`,
    [taken.map((j) => j.data.contactId), taken.map((j) => j.data.attemptNo), instanceId, now, ctx.leaseGraceSec])
    rows = r.rows
  } catch (err) {
    // Not leased: the jobs go back to their queues (their contacts are still queued).
    await ctx.queues.release(taken)
    throw err
  }
  await ctx.queues.complete(taken)
  return rows.map((r) => ({
    callId: r.call_id,
    to: r.phone_e164,
    from: r.caller_id,
    campaignId: r.campaign_id,
    flowRef: `${r.flow_id}@${r.flow_version}`,
    vars: r.vars ?? {},
    ringTimeoutSec: r.ring_timeout_sec,
    leaseSec: r.ring_timeout_sec + ctx.leaseGraceSec,
  }))
}

/**
 * Returns expired leases to their campaigns: an attempt not started (no call.step start and no
 * call.end) by its lease_expires_at is settled as `expired` (not dialled: counted in no outcome,
 * the contact's attempts unchanged) and its contact goes back to pending, due at once.
 */
export async function reapLeases (ctx: DialerContext, now = ctx.clock()): Promise<number> {
  const r = await ctx.pool.query(`
    WITH x AS (
      UPDATE attempts SET outcome = 'expired', ended_at = $1
      WHERE id IN (SELECT id FROM attempts WHERE outcome IS NULL AND started_at IS NULL AND lease_expires_at <= $1
        ORDER BY lease_expires_at LIMIT 10000 FOR UPDATE SKIP LOCKED)
      RETURNING contact_id)
    UPDATE contacts c SET state = 'pending', queued_at = NULL FROM x
    WHERE c.id = x.contact_id AND c.state = 'leased'
    RETURNING c.id`, [now])
  return r.rowCount ?? 0
}
