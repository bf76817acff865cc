import type { Queryable } from '@federate/db'

export interface Sample { t: number, concurrent: number, cps: number, instances: Record<string, number> }

export interface DemoReport {
  database: string
  campaignId: string
  elapsedSec: number
  contacts: number
  attempts: { dialled: number, expired: number, open: number }
  outcomes: Record<string, number>
  answerRate: number
  poll: Record<string, number>
  peakConcurrentCalls: number
  peakCallsPerSecond: number
  instances: { peak: number, launched: number, overTime: Array<{ atSec: number, ready: number, starting: number, draining: number }> }
  cost: { instanceHours: number, costUsd: number, fixedFleetInstanceHours: number, fixedFleetCostUsd: number, pricePerHourUsd: number }
  decisions: number
}

/**
 * The demo's closing figures, read from the database (not from what the demo printed), so the
 * report can be checked against the same tables by anyone.
 */
export async function buildReport (db: Queryable, opts: { database: string, campaignId: string, startedAt: Date, samples: Sample[], pricePerHour: number }): Promise<DemoReport> {
  const q = async <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) => (await db.query<T>(sql, params)).rows
  const [contacts] = await q<{ n: number }>('SELECT count(*)::int AS n FROM contacts WHERE campaign_id = $1', [opts.campaignId])
  const outcomeRows = await q<{ outcome: string | null, n: number }>('SELECT outcome, count(*)::int AS n FROM attempts WHERE campaign_id = $1 GROUP BY outcome', [opts.campaignId])
  const outcomes: Record<string, number> = {}
  let expired = 0
  let open = 0
  for (const r of outcomeRows) {
    if (r.outcome === null) open += r.n
    else if (r.outcome === 'expired') expired += r.n
    else outcomes[r.outcome] = r.n
  }
  const dialled = Object.values(outcomes).reduce((a, b) => a + b, 0)
  const pollRows = await q<{ value: string, n: number }>(`
    SELECT r.value, count(*)::int AS n FROM call_results r JOIN calls c ON c.call_id = r.call_id
    WHERE c.campaign_id = $1 AND r.key = 'vote' GROUP BY r.value ORDER BY r.value`, [opts.campaignId])
  // Peak concurrency from the call records: +1 at each start, -1 at each end, the running maximum.
  const [peak] = await q<{ peak: number | null }>(`
    SELECT max(level)::int AS peak FROM (
      SELECT sum(d) OVER (ORDER BY at, d) AS level FROM (
        SELECT started_at AS at, 1 AS d FROM calls WHERE campaign_id = $1
        UNION ALL SELECT ended_at, -1 FROM calls WHERE campaign_id = $1 AND ended_at IS NOT NULL) e) l`, [opts.campaignId])
  const [cps] = await q<{ peak: number | null }>(`
    SELECT max(n)::int AS peak FROM (SELECT count(*) AS n FROM attempts WHERE campaign_id = $1 AND outcome IS DISTINCT FROM 'expired'
    GROUP BY date_trunc('second', leased_at)) s`, [opts.campaignId])
  const spans = await q<{ launched_at: Date | null, terminated_at: Date | null }>('SELECT launched_at, terminated_at FROM instances WHERE launched_at IS NOT NULL')
  const now = Date.now()
  const instanceSec = spans.reduce((s, r) => s + ((r.terminated_at?.getTime() ?? now) - r.launched_at!.getTime()) / 1000, 0)
  const peakInstances = Math.max(0, ...opts.samples.map((s) => (s.instances.ready ?? 0) + (s.instances.starting ?? 0) + (s.instances.draining ?? 0)))
  const elapsedSec = (now - opts.startedAt.getTime()) / 1000
  const [decisions] = await q<{ n: number }>('SELECT count(*)::int AS n FROM scaling_decisions').catch(() => [{ n: 0 }])
  const every = Math.max(1, Math.ceil(opts.samples.length / 12))
  return {
    database: opts.database,
    campaignId: opts.campaignId,
    elapsedSec: Math.round(elapsedSec),
    contacts: contacts!.n,
    attempts: { dialled, expired, open },
    outcomes,
    answerRate: dialled === 0 ? 0 : (outcomes.answered ?? 0) / dialled,
    poll: Object.fromEntries(pollRows.map((r) => [r.value, r.n])),
    peakConcurrentCalls: peak?.peak ?? 0,
    peakCallsPerSecond: cps?.peak ?? 0,
    instances: {
      peak: peakInstances,
      launched: spans.length,
      overTime: opts.samples.filter((_, i) => i % every === 0).map((s) => ({
        atSec: Math.round(s.t), ready: s.instances.ready ?? 0, starting: s.instances.starting ?? 0, draining: s.instances.draining ?? 0,
      })),
    },
    cost: {
      instanceHours: instanceSec / 3600,
      costUsd: (instanceSec / 3600) * opts.pricePerHour,
      fixedFleetInstanceHours: (peakInstances * elapsedSec) / 3600,
      fixedFleetCostUsd: ((peakInstances * elapsedSec) / 3600) * opts.pricePerHour,
      pricePerHourUsd: opts.pricePerHour,
    },
    decisions: decisions?.n ?? 0,
  }
}

/** The report as a person reads it. */
export function formatReport (r: DemoReport): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`
  const votes = Object.entries(r.poll).map(([k, v]) => `option ${k}: ${v}`).join(', ') || 'none'
  const bar = (n: number) => '#'.repeat(n)
  return [
    '',
    `Federate demo report (database ${r.database}, campaign ${r.campaignId}, ${r.elapsedSec} s)`,
    `  contacts            ${r.contacts}`,
    `  attempts dialled    ${r.attempts.dialled} (expired leases ${r.attempts.expired}, still open ${r.attempts.open})`,
    `  outcomes            ${Object.entries(r.outcomes).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `  answer rate         ${pct(r.answerRate)}`,
    `  poll results        ${votes}`,
    `  peak concurrency    ${r.peakConcurrentCalls} calls`,
    `  peak dial rate      ${r.peakCallsPerSecond} calls/s`,
    `  instances           peak ${r.instances.peak}, launched ${r.instances.launched}, ${r.decisions} scaling decisions`,
    ...r.instances.overTime.map((s) => `    ${String(s.atSec).padStart(5)} s  ${bar(s.ready)}${bar(s.starting).replace(/#/g, '+')}${bar(s.draining).replace(/#/g, '-')}  (${s.ready} ready, ${s.starting} starting, ${s.draining} draining)`),
    `  instance-hours      ${r.cost.instanceHours.toFixed(3)} h = $${r.cost.costUsd.toFixed(4)} at $${r.cost.pricePerHourUsd}/h`,
    `  fixed fleet         ${r.cost.fixedFleetInstanceHours.toFixed(3)} h = $${r.cost.fixedFleetCostUsd.toFixed(4)} (peak size for the whole run)`,
    '',
  ].join('\n')
}
