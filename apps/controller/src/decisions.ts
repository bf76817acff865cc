import type { Queryable } from '@federate/db'

// The scaling history: every decision that changed something, and every change of reason, with
// what was observed. The dashboard reads it; the cost report takes the peak from it.

export type DecisionAction = 'hold' | 'scale_out' | 'scale_in' | 'terminate' | 'lost' | 'launch_failed' | 'orphan'

export interface DecisionRecord {
  at: Date
  controllerId: string
  action: DecisionAction
  code: string
  observed: number
  desired: number
  load: number
  liveCalls: number
  campaignDemand: number
  instanceIds: string[]
  callsCut: number
  reason: string
  details: Record<string, unknown>
}

export interface StoredDecision extends DecisionRecord { id: string }

export async function recordDecision (db: Queryable, d: DecisionRecord): Promise<void> {
  await db.query(
    `INSERT INTO scaling_decisions (at, controller_id, action, code, observed, desired, load, live_calls, campaign_demand, instance_ids, calls_cut, reason, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [d.at, d.controllerId, d.action, d.code, d.observed, d.desired, d.load, d.liveCalls, d.campaignDemand, d.instanceIds, d.callsCut, d.reason.slice(0, 2000), JSON.stringify(d.details)])
}

/** Newest first. */
export async function listDecisions (db: Queryable, { limit = 100, since }: { limit?: number, since?: Date } = {}): Promise<StoredDecision[]> {
  const { rows } = await db.query(
    'SELECT * FROM scaling_decisions WHERE ($1::timestamptz IS NULL OR at >= $1) ORDER BY at DESC, id DESC LIMIT $2',
    [since ?? null, Math.min(Math.max(1, limit), 10_000)])
  return rows.map((r) => ({
    id: String(r.id),
    at: r.at,
    controllerId: r.controller_id,
    action: r.action,
    code: r.code,
    observed: r.observed,
    desired: r.desired,
    load: r.load,
    liveCalls: r.live_calls,
    campaignDemand: r.campaign_demand,
    instanceIds: r.instance_ids,
    callsCut: r.calls_cut,
    reason: r.reason,
    details: r.details,
  }))
}
