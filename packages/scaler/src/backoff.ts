import { setTimeout as sleep } from 'node:timers/promises'

// Exponential backoff with jitter for a provider's API calls (AWS's "equal jitter": half the
// delay fixed, half random, so retries of many callers spread out but never come back at once).

export interface RetryOptions {
  /** Tries in all, the first included (default 6). */
  maxAttempts?: number
  /** Delay before the second try (default 200 ms); doubles each time. */
  baseDelayMs?: number
  /** Longest delay (default 10 s). */
  maxDelayMs?: number
  /** Waits (tests pass a recorder). */
  sleep?: (ms: number) => Promise<void>
  random?: () => number
}

/** The delay before retry number `attempt` (0 for the first retry). */
export function backoffDelay (attempt: number, { baseDelayMs = 200, maxDelayMs = 10_000, random = Math.random }: RetryOptions = {}): number {
  const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt)
  return Math.round(cap / 2 + random() * cap / 2)
}

/**
 * Runs `fn` until it succeeds, `retryable(err)` says no, or the attempts run out (the last error
 * is thrown). `fn` gets the attempt number, from 0.
 */
export async function withRetry<T> (fn: (attempt: number) => Promise<T>, retryable: (err: unknown) => boolean, opts: RetryOptions = {}): Promise<T> {
  const max = opts.maxAttempts ?? 6
  const wait = opts.sleep ?? (async (ms: number) => { await sleep(ms) })
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (err) {
      if (attempt + 1 >= max || !retryable(err)) throw err
      await wait(backoffDelay(attempt, opts))
    }
  }
}
