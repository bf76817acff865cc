import { sqlState, type Queryable } from '@federate/db'
import { GAP_SHARE, windingDown } from '@federate/dialer'
import { campaignDemand, toDial, type CampaignLoad, type Demand } from '@federate/scaler'

// What the controller reads from PostgreSQL besides the instances: campaign calls up now, and
// what running campaigns will need (the dialer's tables; absent tables mean no campaigns).

export interface CampaignObservation {
  /** Calls up now without a campaign (calls table): inbound, unforecast. */
  inboundLiveCalls: number
  /**
   * Campaign calls holding a channel now: the larger of the calls table's (answered, any
   * campaign) and the running campaigns' contacts leased or dialling (ringing ones too).
   */
  campaignLiveCalls: number
  demand: Demand
  /** A running campaign is in its last minutes of dialling (the dialer's wind-down: no gaps offered). */
  windingDown: boolean
}

export interface ObserveOptions {
  /** Contacts due within this many seconds count as work left. */
  horizonSec: number
  /** A campaign's hold time until it has its own. */
  defaultHoldSec: number
  /** Forecast this far ahead (see campaignDemand); absent: the steady state. */
  leadSec?: number
  dueCap?: number
}

export async function observeCampaigns (db: Queryable, opts: ObserveOptions): Promise<CampaignObservation> {
  // Counted in PostgreSQL as they happen, not from heartbeats (seconds old): in a campaign's decay
  // a heartbeat sum is ahead of the calls' ends, and the difference looked like inbound calls.
  const inbound = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM calls WHERE status = 'active' AND campaign_id IS NULL")
  const inboundLiveCalls = inbound.rows[0]?.n ?? 0
  try {
    const live = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM calls WHERE status = 'active' AND campaign_id IS NOT NULL")
    // Each count is bounded (LIMIT) so a campaign of millions of contacts costs the same as a small one.
    // The hold time is how long an attempt holds a channel: from its lease (the instance dials at
    // once) to its end, ringing and unanswered attempts included, as the instance's capacity counts
    // them. It is measured over 15 minutes of attempts leased at least one default hold ago, calls
    // still up counted at their age: the first calls of a campaign to end are its shortest (early
    // hang-ups), and an average over them alone made long calls look short, so the fleet launched
    // for them was drained while they were still arriving.
    // Live: contacts leased or dialling hold a channel now (or within the lease's seconds).
    const { rows } = await db.query<{ id: string, rate: number, max_concurrent: number, in_flight: number, live: number, due: number, hold: number | null }>(`
      SELECT c.id, c.rate_cps::float8 AS rate, c.max_concurrent,
        (SELECT count(*) FROM (SELECT 1 FROM contacts k WHERE k.campaign_id = c.id AND k.state IN ('queued', 'leased', 'dialing') LIMIT $3) f)::int AS in_flight,
        (SELECT count(*) FROM (SELECT 1 FROM contacts k WHERE k.campaign_id = c.id AND k.state IN ('leased', 'dialing') LIMIT $3) l)::int AS live,
        (SELECT count(*) FROM (SELECT 1 FROM contacts k WHERE k.campaign_id = c.id AND k.state = 'pending'
            AND k.next_attempt_at <= now() + make_interval(secs => $1) LIMIT $3) d)::int AS due,
        (SELECT avg(extract(epoch FROM coalesce(a.ended_at, now()) - a.leased_at)) FROM attempts a
          WHERE a.campaign_id = c.id
            AND a.leased_at > now() - make_interval(secs => $4::float8 + 900) AND a.leased_at <= now() - make_interval(secs => $4::float8)
            AND a.outcome IS DISTINCT FROM 'expired' AND (a.ended_at IS NOT NULL OR a.outcome IS NULL))::float8 AS hold
      FROM campaigns c WHERE c.status = 'running' ORDER BY c.id LIMIT $2`,
    [opts.horizonSec, 1000, opts.dueCap ?? 100_000, opts.defaultHoldSec])
    const caps = await db.query<{ max_concurrent: number | null, max_cps: number | null }>('SELECT max_concurrent, max_cps::float8 AS max_cps FROM dialer_settings LIMIT 1')
    const loads: CampaignLoad[] = rows.map((r) => ({ id: r.id, rateCps: r.rate, maxConcurrent: r.max_concurrent, inFlight: r.in_flight, liveCalls: r.live, due: r.due, holdSec: r.hold }))
    return {
      windingDown: loads.some((c) => windingDown(toDial(c), c.rateCps)),
      inboundLiveCalls,
      campaignLiveCalls: Math.max(live.rows[0]?.n ?? 0, loads.reduce((s, c) => s + (c.liveCalls ?? 0), 0)),
      demand: campaignDemand(loads, { defaultHoldSec: opts.defaultHoldSec, leadSec: opts.leadSec, globalMaxConcurrent: caps.rows[0]?.max_concurrent, globalMaxCps: caps.rows[0]?.max_cps }),
    }
  } catch (err) {
    // No dialer schema in this database: no campaigns.
    if (sqlState(err) === '42P01') return { inboundLiveCalls, campaignLiveCalls: 0, demand: { total: 0, ending: 0, byCampaign: [] }, windingDown: false }
    throw err
  }
}

/**
 * Seconds from launch to ready: the 90th percentile of the provider's last twenty instances that
 * became ready (null: none yet). What a launch decided now takes to become capacity; a high
 * percentile, because instances launched together boot slower than one alone.
 */
export async function observeBootSec (db: Queryable, provider: string): Promise<number | null> {
  const { rows } = await db.query<{ sec: number | null }>(`
    SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY sec)::float8 AS sec FROM (
      SELECT extract(epoch FROM ready_at - launched_at) AS sec FROM instances
      WHERE provider = $1 AND ready_at IS NOT NULL ORDER BY ready_at DESC LIMIT 20) r`, [provider])
  return rows[0]?.sec ?? null
}

export interface InstanceCalls {
  /** Calls up on it, and campaign calls leased to it still ringing. */
  calls: number
  /** When the youngest of them began (ms since the epoch). */
  youngestAt: number
}

/**
 * Per instance with calls, what PostgreSQL has of them now: how many (calls up, and campaign
 * attempts leased and not yet answered or ended), and when the youngest began. Calls end roughly
 * in the order they began, so the instance whose youngest call is oldest empties first.
 */
export async function observeInstanceCalls (db: Queryable): Promise<Map<string, InstanceCalls>> {
  const calls = "SELECT instance_id, count(*) AS n, max(started_at) AS at FROM calls WHERE status = 'active' GROUP BY instance_id"
  // An answered campaign call has its calls row; only the attempts still ringing are added.
  const ringing = 'SELECT instance_id, count(*) AS n, max(leased_at) AS at FROM attempts WHERE outcome IS NULL AND started_at IS NULL AND instance_id IS NOT NULL GROUP BY instance_id'
  const sql = (parts: string) => `SELECT instance_id, sum(n)::int AS n, max(at) AS at FROM (${parts}) x GROUP BY instance_id`
  let rows: Array<{ instance_id: string, n: number, at: Date }>
  try {
    rows = (await db.query<{ instance_id: string, n: number, at: Date }>(sql(`${calls} UNION ALL ${ringing}`))).rows
  } catch (err) {
    // No dialer schema in this database: calls only.
    if (sqlState(err) !== '42P01') throw err
    rows = (await db.query<{ instance_id: string, n: number, at: Date }>(sql(calls))).rows
  }
  return new Map(rows.map((r) => [r.instance_id, { calls: r.n, youngestAt: r.at.getTime() }]))
}

/**
 * Channels stranded on full instances: free, but few (at most `share` of the instance: what its
 * unanswered calls and early hang-ups left). While a campaign winds down the dialer does not
 * offer such gaps once an instance's cohort is over (a call there holds the instance up to a call
 * longer; see the dialer's placement), so they are not room for its calls: counted as room, they
 * were all the room the fleet had, and calls were sprinkled over every instance. The last few
 * channels of the instance filling now are counted too: a few channels too many, never a fleet
 * too small.
 */
export function strandedChannels (ready: ReadonlyArray<{ id: string, capacity: number }>, load: ReadonlyMap<string, InstanceCalls>, { share = GAP_SHARE } = {}): number {
  let n = 0
  for (const r of ready) {
    const calls = load.get(r.id)?.calls ?? 0
    const free = r.capacity - calls
    if (calls > 0 && free > 0 && free <= r.capacity * share) n += free
  }
  return n
}
