import { ScalerError } from './errors.ts'

// Campaign demand: the concurrent calls running campaigns will hold in the next minutes, bounded by
// what they are allowed (their caps, the global caps) and by the work they have (contacts due).
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
}

export interface DemandOptions {
  /** Seconds an attempt holds a channel when a campaign has no history yet. */
  defaultHoldSec: number
  /** Caps across every campaign (null or absent: none). */
  globalMaxConcurrent?: number | null
  globalMaxCps?: number | null
}

export interface Demand {
  /** Concurrent campaign calls expected (whole calls, rounded up). */
  total: number
  byCampaign: Array<{ id: string, demand: number, limitedBy: 'rate' | 'cap' | 'contacts' }>
}

/**
 * Little's law per campaign: concurrency = rate x hold time, capped by the campaign's
 * maxConcurrent and by the contacts it can still dial (in flight + due); then the global caps.
 */
export function campaignDemand (campaigns: readonly CampaignLoad[], opts: DemandOptions): Demand {
  if (!(opts.defaultHoldSec > 0)) throw new ScalerError('FED_SCALER_INVALID_INPUT', 'defaultHoldSec must be > 0')
  for (const c of campaigns) {
    for (const k of ['rateCps', 'maxConcurrent', 'inFlight', 'due'] as const) {
      if (!(Number.isFinite(c[k]) && c[k] >= 0)) throw new ScalerError('FED_SCALER_INVALID_INPUT', `campaign ${c.id}: ${k} must be a number >= 0, got ${JSON.stringify(c[k])}`)
    }
  }
  const totalRate = campaigns.reduce((s, c) => s + c.rateCps, 0)
  // A global rate cap slows every campaign in proportion, as the dispatcher shares it.
  const rateShare = opts.globalMaxCps && totalRate > opts.globalMaxCps ? opts.globalMaxCps / totalRate : 1
  const byCampaign = campaigns.map((c) => {
    const hold = c.holdSec !== null && c.holdSec > 0 ? c.holdSec : opts.defaultHoldSec
    const byRate = c.rateCps * rateShare * hold
    const byContacts = c.inFlight + c.due
    const demand = Math.min(byRate, c.maxConcurrent, byContacts)
    const limitedBy: 'rate' | 'cap' | 'contacts' = demand === byContacts && byContacts < byRate ? 'contacts' : demand === c.maxConcurrent && c.maxConcurrent < byRate ? 'cap' : 'rate'
    return { id: c.id, demand: Math.ceil(demand - 1e-9), limitedBy }
  })
  const sum = byCampaign.reduce((s, c) => s + c.demand, 0)
  const total = opts.globalMaxConcurrent ? Math.min(sum, opts.globalMaxConcurrent) : sum
  return { total, byCampaign }
}
