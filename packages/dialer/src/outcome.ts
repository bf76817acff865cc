/** What became of one dial attempt. Every settled attempt has exactly one. */
export const OUTCOMES = ['answered', 'busy', 'noanswer', 'failed', 'machine', 'lost'] as const
export type Outcome = typeof OUTCOMES[number]

/**
 * A settled attempt that was never dialled: its lease expired before the call started. It is
 * recorded for audit but counted in no outcome, and it does not use up one of the contact's attempts.
 */
export const NOT_DIALLED = 'expired'

// Originate failures as the agent reports them (Asterisk's DIALSTATUS / OriginateResponse reasons).
const TEXT_CAUSES: Record<string, Outcome> = {
  ANSWER: 'answered',
  ANSWERED: 'answered',
  BUSY: 'busy',
  NOANSWER: 'noanswer',
  'NO ANSWER': 'noanswer',
  CANCEL: 'noanswer',
  CONGESTION: 'failed',
  CHANUNAVAIL: 'failed',
  FAILED: 'failed',
  INVALIDARGS: 'failed',
}

// Q.850 causes that say the callee was never reached (used when billSec is 0).
const Q850_BUSY = new Set([17])
const Q850_NOANSWER = new Set([18, 19, 20])
const Q850_ANSWERED = new Set([16, 31])

export interface CallEndFacts {
  /** call.end's cause: an originate failure word or a numeric Q.850 hangup cause. */
  cause: string
  /** The AMD result the flow recorded (HUMAN | MACHINE | NOTSURE), if any. */
  amd?: string | null
  billSec?: number
}

/**
 * Classifies a finished call. A MACHINE verdict from AMD wins (the call was answered by a
 * machine); otherwise billed time means answered; otherwise the cause decides. Unknown causes
 * count as `failed` so that every call ends in exactly one outcome.
 */
export function classifyOutcome ({ cause, amd, billSec = 0 }: CallEndFacts): Outcome {
  if (typeof amd === 'string' && amd.toUpperCase() === 'MACHINE') return 'machine'
  const text = String(cause ?? '').trim().toUpperCase()
  if (/^\d{1,3}$/.test(text)) {
    const code = Number(text)
    if (billSec > 0 || Q850_ANSWERED.has(code)) return 'answered'
    if (Q850_BUSY.has(code)) return 'busy'
    if (Q850_NOANSWER.has(code)) return 'noanswer'
    return 'failed'
  }
  if (billSec > 0) return 'answered'
  return TEXT_CAUSES[text] ?? 'failed'
}
