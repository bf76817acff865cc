import type { Queryable } from '@federate/db'
import { computeCost, type CostReport } from '@federate/scaler'
import { parsePrices } from './settings.ts'

// The cost report from the database: instance lifetimes (instances), call-seconds per campaign
// and day (calls), and the peak the scaling history asked for (scaling_decisions).

export interface CostOptions {
  /** Start of the period (default: 7 days before `to`). */
  from?: Date
  /** End of the period (default: now). */
  to?: Date
  /** FEDERATE_PRICES entries (type=price per hour). */
  prices: readonly string[]
}

export async function readCost (db: Queryable, opts: CostOptions): Promise<CostReport> {
  const to = opts.to ?? new Date()
  const from = opts.from ?? new Date(to.getTime() - 7 * 86_400_000)
  const spans = await db.query<{ id: string, instance_type: string | null, launched_at: Date, terminated_at: Date | null }>(
    `SELECT id, instance_type, launched_at, COALESCE(terminated_at, lost_at) AS terminated_at FROM instances
     WHERE launched_at < $2 AND COALESCE(terminated_at, lost_at, 'infinity') > $1`, [from, to])
  const callSeconds = await db.query<{ campaign_id: string | null, day: string, seconds: number }>(
    `SELECT campaign_id, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
       sum(COALESCE(duration_sec, extract(epoch FROM LEAST(COALESCE(ended_at, $2), $2) - started_at)))::float8 AS seconds
     FROM calls WHERE started_at >= $1 AND started_at < $2 GROUP BY 1, 2`, [from, to])
  const peak = await db.query<{ peak: number | null }>(
    "SELECT max(desired)::int AS peak FROM scaling_decisions WHERE at >= $1 AND at < $2 AND action IN ('hold', 'scale_out', 'scale_in')", [from, to])
  return computeCost({
    from: from.getTime(),
    to: to.getTime(),
    instances: spans.rows.map((r) => ({ id: r.id, instanceType: r.instance_type, start: r.launched_at.getTime(), end: r.terminated_at?.getTime() ?? null })),
    callSeconds: callSeconds.rows.map((r) => ({ campaignId: r.campaign_id, day: r.day, seconds: r.seconds })),
    pricePerHour: parsePrices(opts.prices),
    peakInstances: peak.rows[0]?.peak ?? undefined,
  })
}
