import Type from 'typebox'
import { Compile } from 'typebox/compile'
import { DialerError } from './errors.ts'
import type { Outcome } from './outcome.ts'

const Rule = Type.Object({
  retry: Type.Boolean(),
  /** Seconds to wait before the next attempt. */
  delaySec: Type.Integer({ minimum: 0, maximum: 30 * 86400 }),
  /** Multiplies the delay for each further attempt (1 = constant, 2 = doubling). */
  backoff: Type.Optional(Type.Number({ minimum: 1, maximum: 10 })),
}, { additionalProperties: false })

/** What to do after each outcome. `answered` is always final. */
export const RetryPolicySchema = Type.Object({
  busy: Rule,
  noanswer: Rule,
  failed: Rule,
  machine: Rule,
  lost: Rule,
}, { additionalProperties: false })

export type RetryRule = Type.Static<typeof Rule>
export type RetryPolicy = Type.Static<typeof RetryPolicySchema> & { maxAttempts: number }

export const DEFAULT_RETRY_POLICY: Type.Static<typeof RetryPolicySchema> = {
  busy: { retry: true, delaySec: 300 },
  noanswer: { retry: true, delaySec: 1800 },
  failed: { retry: true, delaySec: 600 },
  machine: { retry: false, delaySec: 3600 },
  lost: { retry: true, delaySec: 60 },
}
export const DEFAULT_MAX_ATTEMPTS = 3

const check = Compile(RetryPolicySchema)

/** Fills missing rules from the defaults and validates; throws FED_DIALER_INVALID_INPUT. */
export function parseRetryPolicy (input: unknown): Type.Static<typeof RetryPolicySchema> {
  if (input !== undefined && (input === null || typeof input !== 'object' || Array.isArray(input))) {
    throw new DialerError('FED_DIALER_INVALID_INPUT', 'retryPolicy must be an object')
  }
  const merged: Record<string, unknown> = { ...DEFAULT_RETRY_POLICY }
  for (const [k, v] of Object.entries(input ?? {})) {
    const base = (DEFAULT_RETRY_POLICY as Record<string, RetryRule | undefined>)[k]
    merged[k] = base && v && typeof v === 'object' ? { ...base, ...v } : v
  }
  if (!check.Check(merged)) {
    const e = [...check.Errors(merged)][0]
    throw new DialerError('FED_DIALER_INVALID_INPUT', `retryPolicy${e?.instancePath ?? ''} ${e?.message ?? 'is invalid'}`)
  }
  return merged as Type.Static<typeof RetryPolicySchema>
}

export type NextAttempt = { retryAt: Date } | { final: true }

/**
 * After an attempt ended with `outcome`, when to try the contact again, if ever.
 * `attemptsSoFar` counts the attempt that just ended.
 */
export function nextAttempt (outcome: Outcome, attemptsSoFar: number, now: Date, policy: RetryPolicy): NextAttempt {
  if (outcome === 'answered') return { final: true }
  if (attemptsSoFar >= policy.maxAttempts) return { final: true }
  const rule = policy[outcome]
  if (!rule?.retry) return { final: true }
  const factor = Math.pow(rule.backoff ?? 1, Math.max(0, attemptsSoFar - 1))
  return { retryAt: new Date(now.getTime() + Math.round(rule.delaySec * factor * 1000)) }
}

/** The contact's state once an attempt is final: reached (answered or a machine) or not. */
export function finalState (outcome: Outcome): 'done' | 'failed' {
  return outcome === 'answered' || outcome === 'machine' ? 'done' : 'failed'
}
