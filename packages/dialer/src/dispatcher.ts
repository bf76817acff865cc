import type pg from 'pg'
import { windowState } from './calling-window.ts'
import { CAMPAIGN_COLUMNS, campaignFromRow, type Campaign } from './campaign.ts'
import { type DialerContext, inTransaction } from './context.ts'
import { dispatchBudget, shareRate } from './pacing.ts'

export interface GlobalCaps { maxConcurrent: number | null, maxCps: number | null }

export interface TickResult {
  /** Contacts moved from pending into the queues. */
  queued: number
  /** Jobs re-added for contacts queued too long (their job was lost or dropped). */
  requeued: number
  /** Campaigns that this tick found finished. */
  completed: string[]
  /** Campaigns another app server was dispatching (skipped this time). */
  skipped: number
}

export async function readGlobalCaps (db: pg.Pool | pg.PoolClient): Promise<GlobalCaps> {
  const r = await db.query('SELECT max_concurrent, max_cps FROM dialer_settings WHERE id')
  const row = r.rows[0]
  return {
    maxConcurrent: row?.max_concurrent ?? null,
    maxCps: row?.max_cps == null ? null : Number(row.max_cps),
  }
}

/** Running campaigns with their effective rates after the global calls-per-second cap. */
export async function runningCampaigns (db: pg.Pool): Promise<{ campaigns: Campaign[], rates: Map<string, number>, caps: GlobalCaps }> {
  const [r, caps] = await Promise.all([
    db.query(`SELECT ${CAMPAIGN_COLUMNS} FROM campaigns WHERE status = 'running' ORDER BY id`),
    readGlobalCaps(db),
  ])
  const campaigns = r.rows.map(campaignFromRow)
  const shared = shareRate(campaigns.map((c) => c.rateCps), caps.maxCps)
  return { campaigns, rates: new Map(campaigns.map((c, i) => [c.id, shared[i]!])), caps }
}

/**
 * One dispatcher tick: for every running campaign, moves due contacts (pending, due, calling
 * window open in their zone) into the campaign's BullMQ queue, keeping only `bufferSec`
 * seconds of work queued and queued + in-flight under the campaign's and global caps.
 * Safe to run on several app servers at once: each campaign is dispatched under its row lock
 * (FOR UPDATE SKIP LOCKED), and state moves pending -> queued atomically.
 */
export async function dispatchTick (ctx: DialerContext): Promise<TickResult> {
  const now = ctx.clock()
  const { campaigns, rates, caps } = await runningCampaigns(ctx.pool)
  const result: TickResult = { queued: 0, requeued: 0, completed: [], skipped: 0 }
  if (campaigns.length === 0) return result
  let globalRoom = Infinity
  if (caps.maxConcurrent !== null) {
    const r = await ctx.pool.query("SELECT count(*)::int AS n FROM contacts WHERE state IN ('queued', 'leased', 'dialing')")
    globalRoom = caps.maxConcurrent - r.rows[0].n
  }
  // Start at a different campaign each tick so a global cap is shared fairly.
  const offset = Math.floor(Math.random() * campaigns.length)
  for (let i = 0; i < campaigns.length; i++) {
    const c = campaigns[(i + offset) % campaigns.length]!
    try {
      const out = await dispatchCampaign(ctx, c, rates.get(c.id)!, Math.max(0, globalRoom), now)
      if (out === null) { result.skipped++; continue }
      globalRoom -= out.queued
      result.queued += out.queued
      result.requeued += out.requeued
      if (out.completed) result.completed.push(c.id)
    } catch (err) {
      ctx.logger.warn({ err: (err as Error).message, campaignId: c.id }, 'dispatch failed for a campaign')
    }
  }
  return result
}

async function dispatchCampaign (ctx: DialerContext, c: Campaign, rateCps: number, globalRoom: number, now: Date) {
  const planned = await inTransaction(ctx.pool, async (db) => {
    const lock = await db.query("SELECT 1 FROM campaigns WHERE id = $1 AND status = 'running' FOR UPDATE SKIP LOCKED", [c.id])
    if (lock.rowCount === 0) return null
    const counts = await db.query(`SELECT state, count(*)::int AS n FROM contacts
      WHERE campaign_id = $1 AND state IN ('queued', 'leased', 'dialing') GROUP BY state`, [c.id])
    const by = Object.fromEntries(counts.rows.map((r) => [r.state, r.n])) as Record<string, number>
    const queued = by.queued ?? 0
    const inFlight = (by.leased ?? 0) + (by.dialing ?? 0)
    // Jobs may vanish from Redis (flush, outage, a crash between the two stores): re-add the
    // jobs of contacts queued too long. Job ids make this a no-op when the job is still there.
    const stale = await db.query(`UPDATE contacts SET queued_at = $2 WHERE id IN (
        SELECT id FROM contacts WHERE campaign_id = $1 AND state = 'queued' AND queued_at < $3 LIMIT 1000)
      RETURNING id::text, attempts`, [c.id, now, new Date(now.getTime() - ctx.staleQueuedSec * 1000)])
    const n = dispatchBudget({ rateCps, bufferSec: ctx.bufferSec, maxConcurrent: c.maxConcurrent, inFlight, queued, globalRoom })
    let picked: pg.QueryResult = { rows: [] } as unknown as pg.QueryResult
    if (n > 0) {
      const zones = await openZones(db, c, now)
      if (zones.length > 0) {
        picked = await db.query(`UPDATE contacts SET state = 'queued', queued_at = $3 WHERE id IN (
            SELECT x.id FROM unnest($2::text[]) AS z(tz) CROSS JOIN LATERAL (
              SELECT id, next_attempt_at FROM contacts
              WHERE campaign_id = $1 AND state = 'pending' AND time_zone = z.tz AND next_attempt_at <= $3
              ORDER BY next_attempt_at, id LIMIT $4) x
            ORDER BY x.next_attempt_at, x.id LIMIT $4)
          AND state = 'pending'
          RETURNING id::text, attempts`, [c.id, zones, now, n])
      }
    }
    let completed = false
    if (queued === 0 && inFlight === 0 && picked.rows.length === 0) {
      const left = await db.query(`SELECT EXISTS (SELECT 1 FROM contacts WHERE campaign_id = $1
        AND state IN ('pending', 'queued', 'leased', 'dialing')) AS left`, [c.id])
      if (!left.rows[0].left) {
        await db.query("UPDATE campaigns SET status = 'completed', completed_at = $2 WHERE id = $1", [c.id, now])
        completed = true
      }
    }
    return { picked: picked.rows, stale: stale.rows, completed }
  })
  if (planned === null) return null
  const jobs = [...planned.picked, ...planned.stale].map((r) => ({ contactId: r.id as string, attemptNo: Number(r.attempts) + 1 }))
  try {
    await ctx.queues.add(c.id, jobs)
  } catch (err) {
    // Redis refused: hand the picked contacts back (stale ones stay queued and are retried).
    const ids = planned.picked.map((r) => r.id)
    await ctx.pool.query("UPDATE contacts SET state = 'pending', queued_at = NULL WHERE id = ANY($1::bigint[]) AND state = 'queued'", [ids])
      .catch(() => {})
    throw err
  }
  return { queued: planned.picked.length, requeued: planned.stale.length, completed: planned.completed }
}

// The time zones of the campaign's pending contacts whose calling window is open now. A loose
// index scan (one index probe per zone) keeps this cheap for a million contacts.
async function openZones (db: pg.PoolClient, c: Campaign, now: Date): Promise<string[]> {
  const r = await db.query(`WITH RECURSIVE z(tz) AS (
      (SELECT time_zone FROM contacts WHERE campaign_id = $1 AND state = 'pending' ORDER BY time_zone LIMIT 1)
      UNION ALL
      SELECT (SELECT time_zone FROM contacts WHERE campaign_id = $1 AND state = 'pending' AND time_zone > z.tz
        ORDER BY time_zone LIMIT 1) FROM z WHERE z.tz IS NOT NULL)
    SELECT tz FROM z WHERE tz IS NOT NULL`, [c.id])
  return r.rows.map((x) => x.tz as string).filter((tz) => {
    try {
      return windowState(now, tz, c.window).open
    } catch {
      return false
    }
  })
}
