import { ScalerError } from './errors.ts'

// Campaign demand: the concurrent calls running campaigns will hold, bounded by what they are
// allowed (their caps, the global caps) and by the work they have (contacts due). Two horizons:
// - the steady state (no lead given): rate x hold time, what a campaign holds once it has run
//   for a hold time;
// - a lead time (the seconds a launch takes to become capacity): the calls up now plus those the
//   campaign will place before a launch decided now is ready, never above the steady state.
//   Launching for the steady state at once pays for a fleet that waits a whole ramp for its
//   calls; launching one lead ahead is just in time, and as the calls end it follows them down.
// Pure: the controller reads the numbers from PostgreSQL and passes them in.

export interface CampaignLoad {
  id: string
  /** Dial rate (calls per second). */
  rateCps: number
  /** The campaign's concurrency cap. */
  maxConcurrent: number
  /** Contacts being dialled or about to be (queued, leased, dialing). */
  inFlight: number
  /** Pending contacts due within the horizon (the reader may cap the count). */
  due: number
  /** Mean seconds an attempt holds a channel (ring + talk) lately; null: not known yet. */
  holdSec: number | null
  /** Its calls holding or about to hold a channel now (open attempts); used with a lead time. */
  liveCalls?: number
}

export interface DemandOptions {
  /** Seconds an attempt holds a channel when a campaign has no history yet. */
  defaultHoldSec: number
  /** Caps across every campaign (null or absent: none). */
  globalMaxConcurrent?: number | null
  globalMaxCps?: number | null
  /** Seconds ahead to forecast (launch to ready + a reconcile period); absent: the steady state. */
  leadSec?: number
}

export type LimitedBy = 'rate' | 'cap' | 'contacts' | 'lead'

export interface Demand {
  /** Concurrent campaign calls expected (whole calls, rounded up). */
  total: number
  /**
   * Of the total, the calls of campaigns with nothing left to dial (no contact queued or due; only
   * with a lead time): they only end, so they need neither headroom nor a stabilisation window.
   */
  ending: number
  /** limitedBy: what bounds it — its rate x hold (steady state), its cap, its contacts left, or the lead time (still ramping). */
  byCampaign: Array<{ id: string, demand: number, limitedBy: LimitedBy, ending?: true }>
}

/** Contacts a campaign still has to dial: those in flight but not yet a call (queued), and the due ones. */
export function toDial (c: Pick<CampaignLoad, 'inFlight' | 'due' | 'liveCalls'>): number {
  return Math.max(0, c.inFlight - (c.liveCalls ?? 0)) + c.due
}

/**
 * Little's law per campaign: concurrency = rate x hold time, capped by the campaign's
 * maxConcurrent and by the contacts it can still dial (in flight + due); then the global caps.
 * With a lead time: its live calls + what it dials within the lead (rate x lead, at most its
 * contacts left), within that steady state and cap, and never below its live calls.
 */
export function campaignDemand (campaigns: readonly CampaignLoad[], opts: DemandOptions): Demand {
  if (!(opts.defaultHoldSec > 0)) throw new ScalerError('FED_SCALER_INVALID_INPUT', 'defaultHoldSec must be > 0')
  if (opts.leadSec !== undefined && !(Number.isFinite(opts.leadSec) && opts.leadSec >= 0)) throw new ScalerError('FED_SCALER_INVALID_INPUT', `leadSec must be a number >= 0, got ${JSON.stringify(opts.leadSec)}`)
  for (const c of campaigns) {
    for (const k of ['rateCps', 'maxConcurrent', 'inFlight', 'due', 'liveCalls'] as const) {
      if (k === 'liveCalls' && c[k] === undefined) continue
      if (!(Number.isFinite(c[k]) && c[k]! >= 0)) throw new ScalerError('FED_SCALER_INVALID_INPUT', `campaign ${c.id}: ${k} must be a number >= 0, got ${JSON.stringify(c[k])}`)
    }
  }
  const totalRate = campaigns.reduce((s, c) => s + c.rateCps, 0)
  // A global rate cap slows every campaign in proportion, as the dispatcher shares it.
  const rateShare = opts.globalMaxCps && totalRate > opts.globalMaxCps ? opts.globalMaxCps / totalRate : 1
  const byCampaign = campaigns.map((c) => {
    const hold = c.holdSec !== null && c.holdSec > 0 ? c.holdSec : opts.defaultHoldSec
    const rate = c.rateCps * rateShare
    const byRate = rate * hold
    const byContacts = c.inFlight + c.due
    const steady = Math.min(byRate, c.maxConcurrent, byContacts)
    const steadyLimit: LimitedBy = steady === byContacts && byContacts < byRate ? 'contacts' : steady === c.maxConcurrent && c.maxConcurrent < byRate ? 'cap' : 'rate'
    if (opts.leadSec === undefined) return { id: c.id, demand: Math.ceil(steady - 1e-9), limitedBy: steadyLimit }
    const live = c.liveCalls ?? 0
    const left = toDial(c)
    const ahead = live + Math.min(rate * opts.leadSec, left)
    const demand = Math.min(c.maxConcurrent, Math.max(live, Math.min(ahead, byRate)))
    const limitedBy: LimitedBy = demand === c.maxConcurrent && c.maxConcurrent < Math.min(ahead, byRate) ? 'cap' : ahead < byRate ? (rate * opts.leadSec > left ? 'contacts' : 'lead') : 'rate'
    return { id: c.id, demand: Math.ceil(demand - 1e-9), limitedBy, ...(left === 0 ? { ending: true as const } : {}) }
  })
  const sum = byCampaign.reduce((s, c) => s + c.demand, 0)
  const total = opts.globalMaxConcurrent ? Math.min(sum, opts.globalMaxConcurrent) : sum
  const ending = Math.min(total, byCampaign.reduce((s, c) => s + (c.ending ? c.demand : 0), 0))
  return { total, ending, byCampaign }
}
