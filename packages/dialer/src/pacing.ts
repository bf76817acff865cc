// Pure pacing arithmetic for the dispatcher: how much work to move from PostgreSQL into a
// campaign's queue, and the BullMQ limiter that releases it at the campaign's rate.

export interface BudgetInput {
  /** The campaign's (effective) calls per second. */
  rateCps: number
  /** Seconds of work to keep queued ahead of the instances (a small buffer, never the list). */
  bufferSec: number
  maxConcurrent: number
  /** Leased and dialling attempts of the campaign. */
  inFlight: number
  /** Contacts already queued in BullMQ for the campaign. */
  queued: number
  /** Room left under the global concurrency cap (Infinity when there is none). */
  globalRoom?: number
}

/**
 * How many due contacts to move into the campaign's queue this tick: enough to keep
 * `bufferSec` seconds of work queued at `rateCps`, never letting queued + in-flight pass
 * the campaign's or the global concurrency cap.
 */
export function dispatchBudget ({ rateCps, bufferSec, maxConcurrent, inFlight, queued, globalRoom = Infinity }: BudgetInput): number {
  if (!(rateCps > 0) || maxConcurrent <= 0) return 0
  const target = Math.max(1, Math.ceil(rateCps * bufferSec))
  const wanted = target - queued
  const room = maxConcurrent - inFlight - queued
  const n = Math.min(wanted, room, globalRoom)
  return Number.isFinite(n) ? Math.max(0, Math.floor(n)) : 0
}

export interface Limiter { max: number, duration: number }

/**
 * A BullMQ limiter (`max` jobs per `duration` ms) for a rate in calls per second. Windows are
 * one second where the rate allows it (a fixed window only restarts when polled, so short
 * windows lose more to polling gaps); fractional rates use the shortest window, in whole
 * seconds up to a minute, that holds a whole number of calls.
 */
export function limiterFor (rateCps: number): Limiter {
  if (!(rateCps > 0) || !Number.isFinite(rateCps)) throw new RangeError(`rate must be > 0 (got ${rateCps})`)
  for (let sec = 1; sec <= 60; sec++) {
    const max = rateCps * sec
    if (max >= 1 && Math.abs(max - Math.round(max)) < 1e-6) return { max: Math.round(max), duration: sec * 1000 }
  }
  if (rateCps >= 1) return { max: Math.round(rateCps), duration: 1000 }
  return { max: 1, duration: Math.min(3_600_000, Math.round(1000 / rateCps)) }
}

/**
 * Scales campaign rates down proportionally so that their sum stays under a global
 * calls-per-second cap (none when `globalCps` is null). Returns rates in the input order.
 */
export function shareRate (rates: number[], globalCps: number | null | undefined): number[] {
  const total = rates.reduce((a, b) => a + b, 0)
  if (globalCps == null || !(globalCps > 0) || total <= globalCps) return rates.slice()
  const k = globalCps / total
  // Round down to a hundredth so the sum never exceeds the cap.
  return rates.map((r) => Math.max(0.01, Math.floor(r * k * 100) / 100))
}
