import { ScalerError } from './errors.ts'
import { decide, initialPolicyState, type Decision, type PolicyConfig } from './policy.ts'

// Runs the policy over a load profile with a model of the fleet (instances take bootSec to become
// ready and drainSec to empty once drained) and integrates what it would cost. Used by the policy's
// tests and by anyone tuning headroom and the stabilisation window.

export interface SimulationOptions {
  /** Seconds simulated. */
  durationSec: number
  /** Seconds between decisions (the reconcile period). */
  periodSec: number
  /** Seconds from launch to ready. */
  bootSec: number
  /** Seconds a drained instance takes to empty and be terminated. */
  drainSec: number
  /** Concurrent calls offered at time t (seconds from the start). */
  load: (tSec: number) => number
  /** Campaign demand at time t (concurrent calls); default none. */
  campaignDemand?: (tSec: number) => number
  /**
   * The fleet can only carry what is ready: with `saturate`, the controller sees
   * min(load, ready capacity) live calls, as it would for inbound calls beyond capacity.
   */
  saturate?: boolean
  /** Instances at t = 0, ready (default: min). */
  initial?: number
}

export interface SimulationStep {
  t: number
  load: number
  ready: number
  starting: number
  draining: number
  decision: Decision
}

export interface SimulationResult {
  /** Instance-seconds billed: every instance from launch to termination. */
  instanceSeconds: number
  /** The integral of ceil(load / callsPerInstance): a fleet that follows the load exactly, for free. */
  idealInstanceSeconds: number
  /** instanceSeconds / idealInstanceSeconds. */
  ratio: number
  /** Seconds during which ready capacity was below the load. */
  shortfallSeconds: number
  /** Call-seconds beyond ready capacity (calls that would have been refused or delayed) / all call-seconds. */
  shortfallFraction: number
  maxInstances: number
  launched: number
  drained: number
  /** Times the fleet's direction reversed (out after in, or in after out) within one stabilisation window. */
  flaps: number
  steps: SimulationStep[]
}

interface SimInstance { readyAt: number, drainEndsAt: number | null }

/** Simulates the policy over a profile. Pure and deterministic. */
export function simulate (config: PolicyConfig, o: SimulationOptions): SimulationResult {
  if (!(o.periodSec > 0) || !(o.durationSec > 0) || !(o.bootSec >= 0) || !(o.drainSec >= 0)) {
    throw new ScalerError('FED_SCALER_INVALID_INPUT', 'durationSec and periodSec must be > 0, bootSec and drainSec >= 0')
  }
  let fleet: SimInstance[] = Array.from({ length: o.initial ?? config.min }, () => ({ readyAt: 0, drainEndsAt: null }))
  let state = initialPolicyState()
  const steps: SimulationStep[] = []
  let instanceSeconds = 0
  let ideal = 0
  let shortfall = 0
  let missedCallSeconds = 0
  let callSeconds = 0
  let maxInstances = fleet.length
  let launched = 0
  let drained = 0
  let flaps = 0
  let lastMove: { t: number, dir: 'scale_out' | 'scale_in' } | undefined

  for (let t = 0; t < o.durationSec; t += o.periodSec) {
    fleet = fleet.filter((i) => i.drainEndsAt === null || i.drainEndsAt > t)
    const ready = fleet.filter((i) => i.drainEndsAt === null && i.readyAt <= t)
    const starting = fleet.filter((i) => i.drainEndsAt === null && i.readyAt > t)
    const draining = fleet.filter((i) => i.drainEndsAt !== null)
    const load = Math.max(0, Math.round(o.load(t)))
    const capacity = ready.length * config.callsPerInstance
    const live = o.saturate ? Math.min(load, capacity) : load
    const { decision, state: next } = decide(config, state, {
      at: t * 1000,
      liveCalls: live,
      campaignDemand: o.campaignDemand?.(t),
      ready: ready.length,
      starting: starting.length,
      draining: draining.length,
    })
    state = next
    steps.push({ t, load, ready: ready.length, starting: starting.length, draining: draining.length, decision })

    if (decision.action !== 'hold') {
      if (lastMove && lastMove.dir !== decision.action && t - lastMove.t < config.scaleInStabilisationSec) flaps++
      lastMove = { t, dir: decision.action }
    }
    for (const i of draining.slice(0, decision.undrain)) i.drainEndsAt = null
    for (let k = 0; k < decision.launch; k++) fleet.push({ readyAt: t + o.bootSec, drainEndsAt: null })
    launched += decision.launch
    // Least loaded first does not matter here: every ready instance empties in drainSec.
    for (const i of ready.slice(0, decision.drain)) i.drainEndsAt = t + o.drainSec
    drained += decision.drain

    const dt = Math.min(o.periodSec, o.durationSec - t)
    instanceSeconds += fleet.length * dt
    ideal += Math.ceil(load / config.callsPerInstance) * dt
    if (capacity < load) shortfall += dt
    missedCallSeconds += Math.max(0, load - capacity) * dt
    callSeconds += load * dt
    maxInstances = Math.max(maxInstances, fleet.length)
  }
  return {
    instanceSeconds,
    idealInstanceSeconds: ideal,
    ratio: ideal > 0 ? instanceSeconds / ideal : Infinity,
    shortfallSeconds: shortfall,
    shortfallFraction: callSeconds > 0 ? missedCallSeconds / callSeconds : 0,
    maxInstances,
    launched,
    drained,
    flaps,
    steps,
  }
}
