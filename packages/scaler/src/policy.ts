import { ScalerError } from './errors.ts'

// The scaling policy: a pure function from what the controller observed to what the fleet should
// be, with the reason. No I/O and no clock of its own (the observation carries the time), so it is
// tested exhaustively over load profiles. Scale out at once. Scale in with two kinds of load:
// - calls nobody forecasts (inbound): only once the lower need has lasted a whole stabilisation
//   window (the highest load inside the window wins, as the Kubernetes HPA does), which is what
//   keeps a noisy load from flapping the fleet;
// - campaign calls: their demand is already a forecast (rate, contacts left, hold time; see
//   demand.ts), so it counts as it is now. When a campaign runs out of contacts its calls only
//   end, and the instances they free are drained as they empty, not a window later.
// The headroom is for inbound calls: they arrive unannounced and one that finds every channel busy
// is refused. Campaign calls are placed only into free channels (a full fleet slows the dialer and
// refuses nothing) and their demand already looks one launch lead ahead, so they get their own
// headroom, none by default. Channels stranded on instances filled a while ago (their unanswered
// calls' channels, which the dialer leaves alone while it fills fresh instances) count as load
// while a campaign dials. The scale-in tolerance (a dead band) applies to both, but not to the
// calls of campaigns with nothing left to dial: those only end, so there is no noise to damp and
// no arrival to make room for. And saturation growth is for inbound calls only.

export interface PolicyConfig {
  /** Fewest instances, whatever the load. */
  min: number
  /** Most instances, whatever the load. */
  max: number
  /** Concurrent calls one instance carries (~100 on the reference machine). */
  callsPerInstance: number
  /** Spare capacity above the inbound load, as a fraction (0.1: 10 % more channels than calls). */
  headroom: number
  /** Spare capacity above the calls of campaigns still dialling (default 0: the demand already looks ahead). */
  campaignHeadroom?: number
  /** Seconds a lower need must last before instances are drained. */
  scaleInStabilisationSec: number
  /**
   * Extra headroom a smaller fleet must keep before instances are drained (default 0.05): the
   * dead band between scaling out and scaling in that keeps noise from flapping the fleet.
   */
  scaleInTolerance?: number
  /** Most instances one decision drains (default: as many as the need allows). */
  maxScaleInStep?: number
  /**
   * When every ready channel is busy and nothing is starting, calls beyond capacity may have been
   * refused, so the live count understates the load: grow the ready fleet by this fraction at
   * least (default 1: double). 0 turns it off.
   */
  saturationGrowth?: number
}

export interface Observation {
  /** When it was observed (ms since the epoch). */
  at: number
  /** Calls up on the fleet now (every kind). */
  liveCalls: number
  /** Of those, calls placed by campaigns. */
  campaignLiveCalls?: number
  /** Concurrent calls running campaigns will hold in the next minutes, within their caps. */
  campaignDemand?: number
  /** Of the campaign demand, calls of campaigns with nothing left to dial: they only end. */
  campaignEnding?: number
  /**
   * Free channels the dialer should not need: the few left on instances that were filled a while
   * ago (unanswered calls). Placing a call there holds the instance up to a call longer, so while a
   * campaign dials they count as busy, and a fresh instance is launched for its calls instead.
   */
  strandedChannels?: number
  /** Instances serving (ready). */
  ready: number
  /** Instances launched and not ready yet (pending, booting, syncing): they count as capacity. */
  starting: number
  /** Instances draining: leaving, so not capacity, but the cheapest to get back. */
  draining: number
}

export interface PolicyState {
  /** When the current run of observations began (null: none yet). */
  readonly since: number | null
  /**
   * Per observation inside the window, oldest first: the unforecast (non-campaign) load, and the
   * instances a saturated fleet grew to (0 if it was not saturated; refused calls are unforecast too).
   */
  readonly history: ReadonlyArray<{ readonly at: number, readonly inbound: number, readonly saturated: number }>
}

export type ScalingAction = 'scale_out' | 'scale_in' | 'hold'

/** Why: a stable code for the dashboard and tests, and a sentence for people. */
export type ReasonCode =
  | 'load_up' | 'saturated' | 'below_min' | 'at_max'
  | 'steady' | 'stabilising' | 'wait_starting'
  | 'load_down' | 'above_max'

export interface Decision {
  at: number
  action: ScalingAction
  code: ReasonCode
  reason: string
  /** Calls the fleet must carry: non-campaign live calls + max(campaign live, campaign demand). */
  load: number
  /** Instances the load asks for right now (with headroom, within min and max). */
  recommended: number
  /** The fleet size this decision aims at (for scale-in: the window's highest inbound load + the campaigns' now). */
  desired: number
  /** Instances counted as capacity when deciding: ready + starting. */
  observed: number
  /** New instances to launch. */
  launch: number
  /** Draining instances to put back into service (cheaper and faster than launching). */
  undrain: number
  /** Ready instances to drain (the controller picks the least loaded). */
  drain: number
}

export function initialPolicyState (): PolicyState {
  return { since: null, history: [] }
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0
const isAmount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0

/** Throws FED_SCALER_INVALID_CONFIG naming the first bad field. */
export function checkPolicyConfig (c: PolicyConfig): PolicyConfig {
  const bad = (what: string) => { throw new ScalerError('FED_SCALER_INVALID_CONFIG', what) }
  if (!c || typeof c !== 'object') bad('a policy configuration object is required')
  if (!isCount(c.min)) bad(`min must be an integer >= 0, got ${JSON.stringify(c.min)}`)
  if (!isCount(c.max) || c.max < 1) bad(`max must be an integer >= 1, got ${JSON.stringify(c.max)}`)
  if (c.max < c.min) bad(`max (${c.max}) is below min (${c.min})`)
  if (!isCount(c.callsPerInstance) || c.callsPerInstance < 1) bad(`callsPerInstance must be an integer >= 1, got ${JSON.stringify(c.callsPerInstance)}`)
  if (!isAmount(c.headroom) || c.headroom > 10) bad(`headroom must be a fraction from 0 to 10, got ${JSON.stringify(c.headroom)}`)
  if (c.campaignHeadroom !== undefined && (!isAmount(c.campaignHeadroom) || c.campaignHeadroom > 10)) bad(`campaignHeadroom must be a fraction from 0 to 10, got ${JSON.stringify(c.campaignHeadroom)}`)
  if (!isAmount(c.scaleInStabilisationSec)) bad(`scaleInStabilisationSec must be >= 0, got ${JSON.stringify(c.scaleInStabilisationSec)}`)
  if (c.scaleInTolerance !== undefined && (!isAmount(c.scaleInTolerance) || c.scaleInTolerance > 10)) bad(`scaleInTolerance must be a fraction from 0 to 10, got ${JSON.stringify(c.scaleInTolerance)}`)
  if (c.saturationGrowth !== undefined && (!isAmount(c.saturationGrowth) || c.saturationGrowth > 10)) bad(`saturationGrowth must be a fraction from 0 to 10, got ${JSON.stringify(c.saturationGrowth)}`)
  if (c.maxScaleInStep !== undefined && (!isCount(c.maxScaleInStep) || c.maxScaleInStep < 1)) bad(`maxScaleInStep must be an integer >= 1, got ${JSON.stringify(c.maxScaleInStep)}`)
  return c
}

function checkObservation (o: Observation): void {
  const bad = (what: string) => { throw new ScalerError('FED_SCALER_INVALID_INPUT', what) }
  if (!o || typeof o !== 'object') bad('an observation object is required')
  if (!isAmount(o.at)) bad(`at must be a time in ms, got ${JSON.stringify(o.at)}`)
  for (const k of ['liveCalls', 'ready', 'starting', 'draining'] as const) {
    if (!isCount(o[k])) bad(`${k} must be an integer >= 0, got ${JSON.stringify(o[k])}`)
  }
  for (const k of ['campaignLiveCalls', 'campaignDemand', 'campaignEnding', 'strandedChannels'] as const) {
    if (o[k] !== undefined && !isAmount(o[k])) bad(`${k} must be a number >= 0, got ${JSON.stringify(o[k])}`)
  }
}

/** The load in two parts: calls nobody forecasts, and campaign calls (up now, or forecast). */
export function loadParts (o: Pick<Observation, 'liveCalls' | 'campaignLiveCalls' | 'campaignDemand' | 'campaignEnding'>): { inbound: number, campaign: number, ending: number } {
  const campaignLive = Math.min(o.campaignLiveCalls ?? 0, o.liveCalls)
  const campaign = Math.max(campaignLive, Math.ceil(o.campaignDemand ?? 0))
  return { inbound: o.liveCalls - campaignLive, campaign, ending: Math.min(campaign, Math.ceil(o.campaignEnding ?? 0)) }
}

/** Calls the fleet must carry. Campaign calls already up are part of the demand. */
export function loadOf (o: Pick<Observation, 'liveCalls' | 'campaignLiveCalls' | 'campaignDemand' | 'campaignEnding'>): number {
  const { inbound, campaign } = loadParts(o)
  return inbound + campaign
}

/** Channels asked for, by kind. */
export interface LoadMix {
  /** Calls nobody forecasts: the headroom applies. */
  inbound: number
  /** Calls of campaigns still dialling (up or forecast): the campaign headroom applies. */
  dialling?: number
  /** Calls of campaigns with nothing left to dial, and stranded channels: counted as they are. */
  ending?: number
  stranded?: number
}

/** Instances a load needs with its headrooms (and `extra`, the scale-in tolerance), before min and max. */
export function instancesFor (mix: LoadMix, c: Pick<PolicyConfig, 'callsPerInstance' | 'headroom' | 'campaignHeadroom'>, extra = 0): number {
  const channels = mix.inbound * (1 + c.headroom + extra) + (mix.dialling ?? 0) * (1 + (c.campaignHeadroom ?? 0) + extra) + (mix.ending ?? 0) + (mix.stranded ?? 0)
  // The epsilon keeps 300 * 1.1 / 110 from becoming 3.0000000000000004 -> 4.
  return Math.max(0, Math.ceil(channels / c.callsPerInstance - 1e-9))
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

/**
 * One decision. Returns the decision and the next state (the caller keeps the state between
 * calls; a fresh state, e.g. on a new leader, only delays scale-in by one window).
 */
export function decide (config: PolicyConfig, state: PolicyState, o: Observation): { decision: Decision, state: PolicyState } {
  checkPolicyConfig(config)
  checkObservation(o)
  const window = config.scaleInStabilisationSec * 1000
  const { inbound, campaign, ending } = loadParts(o)
  const load = inbound + campaign
  const dialling = campaign - ending
  const growth = config.saturationGrowth ?? 1
  // Inbound calls may have been refused only when some are up; a fleet full of campaign calls just
  // makes the dialer wait for channels.
  const saturated = growth > 0 && inbound > 0 && o.ready > 0 && o.starting === 0 && o.liveCalls >= o.ready * config.callsPerInstance
  // Stranded channels matter only while a campaign places calls.
  const stranded = dialling > 0 ? Math.floor(o.strandedChannels ?? 0) : 0
  const byLoad = instancesFor({ inbound, dialling, ending, stranded }, config)
  const grown = saturated ? Math.ceil(o.ready * (1 + growth) - 1e-9) : 0
  const needed = Math.max(byLoad, grown)
  const clamp = (n: number) => Math.min(config.max, Math.max(config.min, n))
  const recommended = clamp(needed)
  // What the fleet may shrink to, given an inbound load: the need with the scale-in tolerance on top.
  const keepFor = (h: { inbound: number, saturated: number }) => Math.max(recommended, h.saturated, clamp(instancesFor({ inbound: h.inbound, dialling, ending, stranded }, config, config.scaleInTolerance ?? 0.05)))
  const entry = { at: o.at, inbound, saturated: grown > byLoad ? recommended : 0 }
  const keep = keepFor(entry)
  // A clock that went backwards restarts the window rather than trusting stale entries.
  const fresh = state.since === null || o.at < (state.history.at(-1)?.at ?? state.since)
  const since = fresh ? o.at : state.since!
  const history = [...(fresh ? [] : state.history.filter((h) => h.at > o.at - window)), entry]
  const next: PolicyState = { since, history }

  const observed = o.ready + o.starting
  const base = { at: o.at, load, recommended, observed, launch: 0, undrain: 0, drain: 0 }
  const fleet = `${o.ready} ready + ${o.starting} starting${o.draining ? ` (${o.draining} draining)` : ''}`
  const loadText = `load ${load} calls${campaign ? ` (${campaign} campaign${ending ? `, ${ending} of them ending` : ''})` : ''}`
  const pct = (x: number) => `${Math.round(x * 100)}%`
  const spare = [
    config.headroom && inbound ? `+${pct(config.headroom)} headroom${campaign ? ' on inbound' : ''}` : '',
    config.campaignHeadroom && dialling ? `+${pct(config.campaignHeadroom)} on campaign calls${ending ? ' still dialling' : ''}` : '',
    stranded ? `+${stranded} stranded channels` : '',
  ].filter(Boolean).join(' ')
  const need = `${loadText}${spare ? ` ${spare}` : ''} needs ${plural(byLoad, 'instance')} of ${config.callsPerInstance}`

  if (recommended > observed) {
    const missing = recommended - observed
    const undrain = Math.min(o.draining, missing)
    const code: ReasonCode = needed > config.max ? 'at_max' : needed < config.min ? 'below_min' : grown > byLoad ? 'saturated' : 'load_up'
    const full = `every ready channel is busy (${o.liveCalls} calls on ${plural(o.ready, 'instance')}) and nothing is starting: calls may be refused, growing to ${grown}`
    const why = code === 'below_min' ? `fewer than min ${config.min}` : code === 'at_max' ? `${need}, capped at max ${config.max}` : code === 'saturated' ? full : need
    const how = [undrain ? `undrain ${undrain}` : '', missing - undrain ? `launch ${missing - undrain}` : ''].filter(Boolean).join(', ')
    return {
      decision: { ...base, action: 'scale_out', code, desired: recommended, launch: missing - undrain, undrain, reason: `${why}; have ${fleet}: ${how}` },
      state: next,
    }
  }

  if (recommended === observed) {
    const code: ReasonCode = needed > config.max ? 'at_max' : 'steady'
    const reason = code === 'at_max' ? `${need}, held at max ${config.max}` : `${need}; have ${fleet}`
    return { decision: { ...base, action: 'hold', code, desired: recommended, reason }, state: next }
  }

  // More than needed. Above max goes at once; otherwise the window's highest inbound load counts
  // (with the campaigns' load now), and only once the window is full: a new leader has no history
  // and waits one window, unless it has seen no inbound call at all (the campaigns' forecast
  // needs no history).
  const aboveMax = observed > config.max
  const covered = o.at - since >= window || history.every((h) => h.inbound === 0 && h.saturated === 0)
  const windowMax = Math.max(...history.map(keepFor))
  const target = aboveMax ? Math.min(config.max, covered ? windowMax : config.max) : windowMax
  if (!aboveMax && keep >= observed) {
    return {
      decision: { ...base, action: 'hold', code: 'steady', desired: observed, reason: `${need}; have ${fleet}: within the scale-in tolerance` },
      state: next,
    }
  }
  if (!aboveMax && (!covered || target >= observed)) {
    // The window runs from the later of: the first observation, the last one that needed them all.
    const holder = Math.max(since, history.findLast((h) => keepFor(h) >= observed)?.at ?? since)
    const left = Math.max(0, Math.ceil((holder + window - o.at) / 1000))
    return {
      decision: {
        ...base,
        action: 'hold',
        code: 'stabilising',
        desired: observed,
        reason: `${need}; have ${fleet}: keeping them until the lower load lasts ${config.scaleInStabilisationSec} s (${left} s left)`,
      },
      state: next,
    }
  }
  const excess = observed - target
  // Never drain ready instances the target still needs while others are starting.
  const drain = Math.min(excess, Math.max(0, o.ready - target), config.maxScaleInStep ?? Infinity)
  if (drain === 0) {
    return {
      decision: { ...base, action: 'hold', code: 'wait_starting', desired: target, reason: `${need}; have ${fleet}: the excess is still starting, drain it once ready` },
      state: next,
    }
  }
  const code: ReasonCode = aboveMax ? 'above_max' : 'load_down'
  const why = aboveMax ? `${plural(observed, 'instance')} is above max ${config.max}` : `${need} for ${config.scaleInStabilisationSec} s`
  return {
    decision: { ...base, action: 'scale_in', code, desired: target, drain, reason: `${why}; have ${fleet}: drain ${drain}` },
    state: next,
  }
}
