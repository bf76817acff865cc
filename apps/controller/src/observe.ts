import { sqlState, type Queryable } from '@federate/db'
import { campaignDemand, type CampaignLoad, type Demand } from '@federate/scaler'

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
    // The hold time is measured over 15 minutes of attempts leased at least one default hold ago,
    // calls still up counted at their age: the first calls of a campaign to end are its shortest
    // (early hang-ups), and an average over them alone made long calls look short, so the fleet
    // launched for them was drained while they were still arriving.
    // Live: contacts leased or dialling hold a channel now (or within the lease's seconds).
    const { rows } = await db.query<{ id: string, rate: number, max_concurrent: number, in_flight: number, live: number, due: number, hold: number | null }>(`
      SELECT c.id, c.rate_cps::float8 AS rate, c.max_concurrent,
        (SELECT count(*) FROM (SELECT 1 FROM contacts k WHERE k.campaign_id = c.id AND k.state IN ('queued', 'leased', 'dialing') LIMIT $3) f)::int AS in_flight,
        (SELECT count(*) FROM (SELECT 1 FROM contacts k WHERE k.campaign_id = c.id AND k.state IN ('leased', 'dialing') LIMIT $3) l)::int AS live,
        (SELECT count(*) FROM (SELECT 1 FROM contacts k WHERE k.campaign_id = c.id AND k.state = 'pending'
            AND k.next_attempt_at <= now() + make_interval(secs => $1) LIMIT $3) d)::int AS due,
        (SELECT avg(extract(epoch FROM coalesce(a.ended_at, now()) - a.started_at)) FROM attempts a
          WHERE a.campaign_id = c.id
            AND a.leased_at > now() - make_interval(secs => $4::float8 + 900) AND a.leased_at <= now() - make_interval(secs => $4::float8)
            AND a.started_at IS NOT NULL AND (a.ended_at IS NOT NULL OR a.outcome IS NULL))::float8 AS hold
      FROM campaigns c WHERE c.status = 'running' ORDER BY c.id LIMIT $2`,
    [opts.horizonSec, 1000, opts.dueCap ?? 100_000, opts.defaultHoldSec])
    const caps = await db.query<{ max_concurrent: number | null, max_cps: number | null }>('SELECT max_concurrent, max_cps::float8 AS max_cps FROM dialer_settings LIMIT 1')
    const loads: CampaignLoad[] = rows.map((r) => ({ id: r.id, rateCps: r.rate, maxConcurrent: r.max_concurrent, inFlight: r.in_flight, liveCalls: r.live, due: r.due, holdSec: r.hold }))
    return {
      inboundLiveCalls,
      campaignLiveCalls: Math.max(live.rows[0]?.n ?? 0, loads.reduce((s, c) => s + (c.liveCalls ?? 0), 0)),
      demand: campaignDemand(loads, { defaultHoldSec: opts.defaultHoldSec, leadSec: opts.leadSec, globalMaxConcurrent: caps.rows[0]?.max_concurrent, globalMaxCps: caps.rows[0]?.max_cps }),
    }
  } catch (err) {
    // No dialer schema in this database: no campaigns.
    if (sqlState(err) === '42P01') return { inboundLiveCalls, campaignLiveCalls: 0, demand: { total: 0, ending: 0, byCampaign: [] } }
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
