// Failed authentications per client address, counted in a sliding window (two fixed buckets,
// the previous one weighted by how much of it still overlaps the window: O(1) memory per
// address, the approximation Cloudflare and nginx use). Only failures are counted, and only
// credentials that missed the verified-credential cache reach this code, so clients with good
// credentials never pay for it. @fastify/rate-limit counts every request, which is not this.

export interface AuthLimitOptions {
  /** Failures from one address within the window before its unknown credentials are refused; 0 turns the limit off. */
  maxFailures: number
  /** Length of the sliding window, in seconds. */
  windowSec: number
  /** Most addresses tracked at once (the oldest goes first when full). Default 10,000. */
  maxAddresses?: number
  /** Most credentials remembered as recently good. Default 10,000. */
  maxKnownGood?: number
  /** How long a verified credential stays known good, seconds. Default 1 hour. */
  knownGoodSec?: number
}

interface Window { start: number, current: number, previous: number }

/**
 * Counts failed authentications by address and answers how long an address must wait.
 *
 * An address over the limit has its *unknown* credentials refused without a database lookup
 * (brute force and verification floods stop there), while credentials verified good within the
 * last hour are still checked normally: many clients can share one address (a NAT, or a load
 * balancer without trustProxy), and one of them failing must not lock the others out.
 */
export class AuthFailureLimiter {
  readonly #max: number
  readonly #windowMs: number
  readonly #maxAddresses: number
  readonly #maxKnownGood: number
  readonly #knownGoodMs: number
  readonly #windows = new Map<string, Window>()
  readonly #knownGood = new Map<string, number>()

  constructor (opts: AuthLimitOptions) {
    if (!Number.isInteger(opts.maxFailures) || opts.maxFailures < 0) throw new RangeError('maxFailures must be an integer >= 0')
    if (!(opts.windowSec > 0)) throw new RangeError('windowSec must be > 0')
    this.#max = opts.maxFailures
    this.#windowMs = opts.windowSec * 1000
    this.#maxAddresses = opts.maxAddresses ?? 10_000
    this.#maxKnownGood = opts.maxKnownGood ?? 10_000
    this.#knownGoodMs = (opts.knownGoodSec ?? 3600) * 1000
  }

  get enabled (): boolean { return this.#max > 0 }

  /** Addresses and credentials currently held (for tests and metrics). */
  get size (): { addresses: number, knownGood: number } {
    return { addresses: this.#windows.size, knownGood: this.#knownGood.size }
  }

  /**
   * Seconds before `address` may present this unknown credential (`credentialKey`: a hash of it,
   * never the credential), or 0 when it may now. A refused attempt counts as a failure too, so
   * an address that keeps trying stays refused.
   */
  refuseFor (address: string, credentialKey: string, now = Date.now()): number {
    if (this.#max === 0) return 0
    const w = this.#windows.get(address)
    if (w === undefined) return 0
    this.#roll(w, now)
    if (this.#estimate(w, now) < this.#max) return 0
    const goodUntil = this.#knownGood.get(credentialKey)
    if (goodUntil !== undefined && goodUntil > now) return 0
    w.current++
    return this.#secondsUntilBelow(w, now)
  }

  /** Records a refused credential from `address`. */
  fail (address: string, now = Date.now()): void {
    if (this.#max === 0) return
    let w = this.#windows.get(address)
    if (w === undefined) {
      this.#sweepOne(now)
      if (this.#windows.size >= this.#maxAddresses) this.#windows.delete(this.#windows.keys().next().value as string)
      w = { start: now, current: 0, previous: 0 }
      this.#windows.set(address, w)
    }
    this.#roll(w, now)
    w.current++
  }

  /** Records a credential (by its hash) just verified good: a blocked address may still use it. */
  succeeded (credentialKey: string, now = Date.now()): void {
    if (this.#max === 0) return
    if (this.#knownGood.has(credentialKey)) this.#knownGood.delete(credentialKey) // to the end: newest
    else if (this.#knownGood.size >= this.#maxKnownGood) this.#knownGood.delete(this.#knownGood.keys().next().value as string)
    this.#knownGood.set(credentialKey, now + this.#knownGoodMs)
  }

  /** Forgets everything (tests; an operator's reset). */
  clear (): void {
    this.#windows.clear()
    this.#knownGood.clear()
  }

  // Move the window's buckets forward to the bucket holding `now`.
  #roll (w: Window, now: number): void {
    const elapsed = now - w.start
    if (elapsed < this.#windowMs) return
    const buckets = Math.floor(elapsed / this.#windowMs)
    w.previous = buckets === 1 ? w.current : 0
    w.current = 0
    w.start += buckets * this.#windowMs
  }

  #estimate (w: Window, now: number): number {
    const overlap = 1 - (now - w.start) / this.#windowMs
    return w.current + w.previous * overlap
  }

  // The estimate falls linearly: first the previous bucket fades out, then (after the next roll)
  // the current one does.
  #secondsUntilBelow (w: Window, now: number): number {
    const max = this.#max
    let ms: number
    if (w.current < max) {
      // c + p * (1 - x/W) < max  <=>  x > W * (1 - (max - c) / p)
      ms = w.start + this.#windowMs * (1 - (max - w.current) / w.previous) - now
    } else {
      // Next bucket: c * (1 - y/W) < max  <=>  y > W * (1 - max / c)
      ms = w.start + this.#windowMs + this.#windowMs * (1 - max / w.current) - now
    }
    return Math.max(1, Math.ceil(ms / 1000))
  }

  // Amortised clean-up: drop the oldest entries while they are older than two windows.
  #sweepOne (now: number): void {
    for (let i = 0; i < 2; i++) {
      const first = this.#windows.entries().next().value as [string, Window] | undefined
      if (first === undefined || now - first[1].start < 2 * this.#windowMs) break
      this.#windows.delete(first[0])
    }
    const good = this.#knownGood.entries().next().value as [string, number] | undefined
    if (good !== undefined && good[1] <= now) this.#knownGood.delete(good[0])
  }
}

/** The sentence both interfaces answer with. */
export function tooManyFailuresMessage (retryAfterSec: number): string {
  return `too many failed authentications from this address; retry after ${retryAfterSec} s`
}
