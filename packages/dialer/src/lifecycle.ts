import { randomBytes } from 'node:crypto'
import {
  CAMPAIGN_COLUMNS, campaignFromRow, parseCampaignInput, parseCampaignUpdate,
  type Campaign, type CampaignStatus,
} from './campaign.ts'
import { type DialerContext, inTransaction } from './context.ts'
import { DialerError } from './errors.ts'
import { DEFAULT_MAX_ATTEMPTS, parseRetryPolicy } from './retry-policy.ts'

/** Creates a draft campaign after checking its flow (and pinned version) exist. */
export async function createCampaign (ctx: DialerContext, input: unknown): Promise<Campaign> {
  const c = parseCampaignInput(input)
  const id = c.id ?? `cmp_${randomBytes(6).toString('hex')}`
  const flow = await ctx.pool.query('SELECT latest_version FROM flows WHERE id = $1', [c.flowId])
  if (flow.rowCount === 0) throw new DialerError('FED_DIALER_FLOW_NOT_FOUND', `flow ${c.flowId}`)
  if (c.flowVersion !== undefined) {
    const v = await ctx.pool.query('SELECT 1 FROM flow_versions WHERE flow_id = $1 AND version = $2', [c.flowId, c.flowVersion])
    if (v.rowCount === 0) throw new DialerError('FED_DIALER_FLOW_NOT_FOUND', `flow ${c.flowId}@${c.flowVersion}`)
  }
  const w = c.window ?? { start: '09:00', end: '21:00' }
  try {
    const r = await ctx.pool.query(`
      INSERT INTO campaigns (id, name, flow_id, flow_version, caller_id, rate_cps, max_concurrent, ring_timeout_sec,
        window_start, window_end, window_days, retry_policy, max_attempts, created_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
      RETURNING ${CAMPAIGN_COLUMNS}`, [
      id, c.name, c.flowId, c.flowVersion ?? null, c.callerId, c.rateCps, c.maxConcurrent, c.ringTimeoutSec ?? 30,
      w.start, w.end, w.days ?? null, JSON.stringify(parseRetryPolicy(c.retryPolicy)), c.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      ctx.clock(),
    ])
    return campaignFromRow(r.rows[0])
  } catch (err) {
    if ((err as { code?: string }).code === '23505') throw new DialerError('FED_DIALER_INVALID_INPUT', `campaign ${id} already exists`, { cause: err })
    throw err
  }
}

export async function getCampaign (ctx: DialerContext, id: string): Promise<Campaign> {
  const r = await ctx.pool.query(`SELECT ${CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1`, [id])
  if (r.rowCount === 0) throw new DialerError('FED_DIALER_NOT_FOUND', `campaign ${id}`)
  return campaignFromRow(r.rows[0])
}

export async function listCampaigns (ctx: DialerContext, filter: { status?: CampaignStatus } = {}): Promise<Campaign[]> {
  const r = await ctx.pool.query(
    `SELECT ${CAMPAIGN_COLUMNS} FROM campaigns WHERE ($1::text IS NULL OR status = $1) ORDER BY created_at, id`,
    [filter.status ?? null])
  return r.rows.map(campaignFromRow)
}

/** Changes rate, caps, window, policy or names; applies from the next dispatcher tick. */
export async function updateCampaign (ctx: DialerContext, id: string, input: unknown): Promise<Campaign> {
  const u = parseCampaignUpdate(input)
  const sets: string[] = []
  const values: unknown[] = [id]
  const set = (col: string, v: unknown) => { values.push(v); sets.push(`${col} = $${values.length}`) }
  if (u.name !== undefined) set('name', u.name)
  if (u.callerId !== undefined) set('caller_id', u.callerId)
  if (u.rateCps !== undefined) set('rate_cps', u.rateCps)
  if (u.maxConcurrent !== undefined) set('max_concurrent', u.maxConcurrent)
  if (u.ringTimeoutSec !== undefined) set('ring_timeout_sec', u.ringTimeoutSec)
  if (u.window !== undefined) { set('window_start', u.window.start); set('window_end', u.window.end); set('window_days', u.window.days ?? null) }
  if (u.retryPolicy !== undefined) set('retry_policy', JSON.stringify(parseRetryPolicy(u.retryPolicy)))
  if (u.maxAttempts !== undefined) set('max_attempts', u.maxAttempts)
  if (sets.length === 0) return await getCampaign(ctx, id)
  const r = await ctx.pool.query(`UPDATE campaigns SET ${sets.join(', ')} WHERE id = $1 AND status NOT IN ('stopped', 'completed')
    RETURNING ${CAMPAIGN_COLUMNS}`, values)
  if (r.rowCount === 0) {
    const c = await getCampaign(ctx, id)
    throw new DialerError('FED_DIALER_BAD_STATE', `campaign ${id} is ${c.status}`)
  }
  return campaignFromRow(r.rows[0])
}

// Which statuses each action may start from, and where it leads.
const TRANSITIONS = {
  start: { from: ['draft'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  stop: { from: ['draft', 'running', 'paused'], to: 'stopped' },
} as const satisfies Record<string, { from: readonly CampaignStatus[], to: CampaignStatus }>

export type LifecycleAction = keyof typeof TRANSITIONS

/**
 * Moves a campaign through its lifecycle. Asking for the state it is already in is a no-op.
 * `start` pins the flow's latest version (unless one was pinned). `pause` and `stop` return
 * queued contacts to pending and empty the campaign's queue; calls already leased or dialling
 * finish and are settled as usual (after `stop`, no further attempt is dispatched).
 */
export async function transition (ctx: DialerContext, id: string, action: LifecycleAction): Promise<Campaign> {
  const t = TRANSITIONS[action]
  const now = ctx.clock()
  const campaign = await inTransaction(ctx.pool, async (db) => {
    // Waits for a dispatcher tick holding the row, so a tick never queues after a pause.
    const cur = await db.query(`SELECT ${CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1 FOR UPDATE`, [id])
    if (cur.rowCount === 0) throw new DialerError('FED_DIALER_NOT_FOUND', `campaign ${id}`)
    const c = campaignFromRow(cur.rows[0])
    if (c.status === t.to) return { c, changed: false }
    if (!(t.from as readonly string[]).includes(c.status)) {
      throw new DialerError('FED_DIALER_BAD_STATE', `cannot ${action} campaign ${id}: it is ${c.status}`)
    }
    let flowVersion = c.flowVersion
    if (action === 'start' && flowVersion === null) {
      const f = await db.query('SELECT latest_version FROM flows WHERE id = $1', [c.flowId])
      flowVersion = f.rows[0]?.latest_version ?? 0
      if (!flowVersion) throw new DialerError('FED_DIALER_FLOW_NOT_FOUND', `flow ${c.flowId} has no published version`)
    }
    const r = await db.query(`
      UPDATE campaigns SET status = $2, flow_version = $3,
        started_at = CASE WHEN $2 = 'running' THEN coalesce(started_at, $4) ELSE started_at END,
        stopped_at = CASE WHEN $2 = 'stopped' THEN $4 ELSE stopped_at END
      WHERE id = $1 RETURNING ${CAMPAIGN_COLUMNS}`, [id, t.to, flowVersion, now])
    if (t.to === 'paused' || t.to === 'stopped') {
      await db.query("UPDATE contacts SET state = 'pending', queued_at = NULL WHERE campaign_id = $1 AND state = 'queued'", [id])
    }
    return { c: campaignFromRow(r.rows[0]), changed: true }
  })
  if (campaign.changed && (t.to === 'paused' || t.to === 'stopped')) {
    // Stale jobs left behind (Redis down now) are harmless: the hand-out guard drops them.
    const clear = t.to === 'stopped' ? ctx.queues.remove(id) : ctx.queues.drain(id)
    await clear.catch((err) => { ctx.logger.warn({ err: err.message, campaignId: id }, 'could not clear the campaign queue') })
  }
  return campaign.c
}
