// A per-server circuit breaker: after `failures` consecutive failures the circuit opens and the
// server is skipped; after `cooldownMs` one probe call is let through (half-open). Its success
// closes the circuit, its failure opens it for another cool-down.

export type BreakerState = 'closed' | 'open' | 'half-open'

export interface BreakerOptions {
  failures: number
  cooldownMs: number
  now?: () => number
}

export class CircuitBreaker {
  private consecutive = 0
  private openedAt = 0
  private probing = false
  private state: BreakerState = 'closed'
  private readonly now: () => number
  private readonly failures: number
  private readonly cooldownMs: number

  constructor (opts: BreakerOptions) {
    this.failures = opts.failures
    this.cooldownMs = opts.cooldownMs
    this.now = opts.now ?? Date.now
  }

  /** The state as of now (an open circuit past its cool-down reads half-open). */
  get current (): BreakerState {
    if (this.state === 'open' && this.now() - this.openedAt >= this.cooldownMs) return 'half-open'
    return this.state
  }

  /** May a call go to this server now? Taking the half-open probe slot is part of asking. */
  tryAcquire (): boolean {
    const s = this.current
    if (s === 'closed') return true
    if (s === 'half-open' && !this.probing) {
      this.state = 'half-open'
      this.probing = true
      return true
    }
    return false
  }

  success (): void {
    this.consecutive = 0
    this.probing = false
    this.state = 'closed'
  }

  failure (): void {
    this.consecutive++
    if (this.probing || this.state === 'half-open' || this.consecutive >= this.failures) {
      this.state = 'open'
      this.openedAt = this.now()
    }
    this.probing = false
  }
}
