import { once } from 'node:events'
import type { Writable } from 'node:stream'
import type { CampaignStatus } from './campaign.ts'
import type { DialerContext } from './context.ts'
import { DialerError } from './errors.ts'
import { OUTCOMES, type Outcome } from './outcome.ts'

export interface CampaignStats {
  campaignId: string
  status: CampaignStatus
  contacts: Record<'total' | 'pending' | 'queued' | 'leased' | 'dialing' | 'done' | 'failed', number>
  /** Every attempt row: dialled + expired (never dialled) + open. */
  attempts: number
  /** Settled attempts with an outcome; equals the sum of `outcomes` and of the contacts' attempts. */
  dialled: number
  expired: number
  open: number
  outcomes: Record<Outcome, number>
  /** answered / dialled (0 when nothing was dialled). */
  answerRate: number
  /** Calls leased per second over the last `windowSec`. */
  cps: number
  windowSec: number
  /** Leased and dialling attempts now. */
  concurrent: number
  /** Poll answers of the campaign's calls: how many calls gave each value for each key. */
  results: Array<{ node: string, key: string, value: string, count: number }>
}

export async function campaignStats (ctx: DialerContext, campaignId: string, { windowSec = 60 } = {}): Promise<CampaignStats> {
  const now = ctx.clock()
  const camp = await ctx.pool.query('SELECT status FROM campaigns WHERE id = $1', [campaignId])
  if (camp.rowCount === 0) throw new DialerError('FED_DIALER_NOT_FOUND', `campaign ${campaignId}`)
  const [contacts, attempts, recent, results] = await Promise.all([
    ctx.pool.query('SELECT state, count(*)::int AS n, sum(attempts)::bigint AS tried FROM contacts WHERE campaign_id = $1 GROUP BY state', [campaignId]),
    ctx.pool.query("SELECT coalesce(outcome, 'open') AS outcome, count(*)::int AS n FROM attempts WHERE campaign_id = $1 GROUP BY 1", [campaignId]),
    ctx.pool.query('SELECT count(*)::int AS n FROM attempts WHERE campaign_id = $1 AND leased_at > $2 AND leased_at <= $3',
      [campaignId, new Date(now.getTime() - windowSec * 1000), now]),
    ctx.pool.query(`SELECT r.node, r.key, r.value, count(*)::int AS count
      FROM attempts a JOIN call_results r ON r.call_id = a.call_id
      WHERE a.campaign_id = $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 4 DESC, 3`, [campaignId]),
  ])
  const c = { total: 0, pending: 0, queued: 0, leased: 0, dialing: 0, done: 0, failed: 0 }
  for (const r of contacts.rows) {
    c[r.state as keyof typeof c] = r.n
    c.total += r.n
  }
  const by = Object.fromEntries(attempts.rows.map((r) => [r.outcome, r.n])) as Record<string, number>
  const outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, by[o] ?? 0])) as Record<Outcome, number>
  const dialled = OUTCOMES.reduce((s, o) => s + outcomes[o], 0)
  const open = by.open ?? 0
  return {
    campaignId,
    status: camp.rows[0].status,
    contacts: c,
    attempts: dialled + (by.expired ?? 0) + open,
    dialled,
    expired: by.expired ?? 0,
    open,
    outcomes,
    answerRate: dialled ? outcomes.answered / dialled : 0,
    cps: recent.rows[0].n / windowSec,
    windowSec,
    concurrent: open,
    results: results.rows,
  }
}

const EXPORT_COLUMNS = ['attempt_id', 'call_id', 'campaign_id', 'contact_id', 'phone', 'attempt_no', 'instance_id',
  'leased_at', 'started_at', 'ended_at', 'outcome', 'cause', 'amd', 'duration_sec', 'bill_sec', 'vars', 'results'] as const

/**
 * Streams every attempt of a campaign as CSV, with the contact's vars and the call's results
 * (JSON objects `{"node.key": "value"}`), page by page with backpressure; ends `out`.
 */
export async function exportCsv (ctx: DialerContext, campaignId: string, out: Writable, { pageSize = 1000 } = {}): Promise<number> {
  const camp = await ctx.pool.query('SELECT 1 FROM campaigns WHERE id = $1', [campaignId])
  if (camp.rowCount === 0) throw new DialerError('FED_DIALER_NOT_FOUND', `campaign ${campaignId}`)
  const write = async (line: string) => {
    if (!out.write(line)) await once(out, 'drain')
  }
  await write(EXPORT_COLUMNS.join(',') + '\n')
  let after = '0'
  let n = 0
  for (;;) {
    const page = await ctx.pool.query(`
      SELECT a.id::text AS attempt_id, a.call_id, a.campaign_id, a.contact_id::text, c.phone_e164 AS phone, a.attempt_no,
        a.instance_id, a.leased_at, a.started_at, a.ended_at, a.outcome, a.cause, a.amd, a.duration_sec, a.bill_sec,
        c.vars, (SELECT jsonb_object_agg(r.node || '.' || r.key, r.value) FROM call_results r WHERE r.call_id = a.call_id) AS results
      FROM attempts a JOIN contacts c ON c.id = a.contact_id
      WHERE a.campaign_id = $1 AND a.id > $2 ORDER BY a.id LIMIT $3`, [campaignId, after, pageSize])
    for (const r of page.rows) {
      await write(EXPORT_COLUMNS.map((k) => csvField(r[k])).join(',') + '\n')
    }
    n += page.rows.length
    if (page.rows.length < pageSize) break
    after = page.rows[page.rows.length - 1].attempt_id
  }
  out.end()
  return n
}

function csvField (v: unknown): string {
  if (v === null || v === undefined) return ''
  const s = v instanceof Date ? v.toISOString() : typeof v === 'object' ? JSON.stringify(v) : String(v)
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}
