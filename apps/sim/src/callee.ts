import type { Profile, Spread } from './profile.ts'
import type { Rng } from './prng.ts'

// The people (and machines) at the other end. Every decision draws from the call's own seeded
// stream, so a call behaves the same whatever the other calls do.

export type OriginateOutcome = 'answer' | 'busy' | 'noanswer' | 'congestion' | 'unavailable'
export type DialStatus = 'ANSWER' | 'BUSY' | 'NOANSWER' | 'CONGESTION' | 'CHANUNAVAIL'
export type AmdStatus = 'HUMAN' | 'MACHINE' | 'NOTSURE'

/**
 * OriginateResponse Reason for each outcome: Asterisk reports the last control frame seen
 * on the outgoing channel (AST_CONTROL_*): 4 answered, 5 busy, 3 ringing (no answer before
 * the timeout), 8 congestion, 0 no channel could be created (unavailable), 1 hangup.
 */
export const ORIGINATE_REASON: Record<OriginateOutcome, number> = {
  answer: 4,
  busy: 5,
  noanswer: 3,
  congestion: 8,
  unavailable: 0,
}

/** A draw from a log-normal spread, in simulated seconds, capped at maxSec. */
export function drawSec (rng: Rng, s: Spread): number {
  if (s.medianSec <= 0) return 0
  const v = s.sigma > 0 ? rng.logNormal(s.medianSec, s.sigma) : s.medianSec
  return Math.min(v, s.maxSec)
}

export interface Callee {
  /** Answering machine rather than a person. */
  machine: boolean
  /** Seconds after answer at which the callee hangs up by itself (Infinity: stays). */
  hangupAtSec: number
}

export interface OriginateDraw {
  outcome: OriginateOutcome
  /** Seconds of ringing (or of signalling before a failure). */
  ringSec: number
}

/** What an outbound call attempt does: outcome and ring time, capped by the originate timeout. */
export function drawOriginate (rng: Rng, p: Profile, timeoutSec: number): OriginateDraw {
  let outcome: OriginateOutcome = rng.pick<OriginateOutcome>(p.outcomes) ?? 'answer'
  let ringSec = drawSec(rng, p.ring)
  if (outcome === 'unavailable') ringSec = Math.min(ringSec, 0.05)
  else if (outcome === 'busy' || outcome === 'congestion') ringSec = Math.min(ringSec, 2)
  else if (outcome === 'noanswer') ringSec = timeoutSec
  else if (ringSec >= timeoutSec) {
    // Rang longer than the dialplan waits: it is a no answer after all.
    outcome = 'noanswer'
    ringSec = timeoutSec
  }
  return { outcome, ringSec }
}

/** Who picks up once a call is answered (outbound or inbound). */
export function drawCallee (rng: Rng, p: Profile, inbound: boolean): Callee {
  const machine = !inbound && rng.chance(p.machineRate)
  let hangupAtSec = Infinity
  if (machine) hangupAtSec = drawSec(rng, p.machineHangup)
  else if (rng.chance(p.hangup.rate)) hangupAtSec = drawSec(rng, p.hangup.after)
  return { machine, hangupAtSec }
}

/** What AMD() reports for this callee, with the AMDCAUSE Asterisk would set. */
export function drawAmd (rng: Rng, p: Profile, callee: Callee, totalMs: number): { status: AmdStatus, cause: string } {
  if (rng.chance(p.amd.notSureRate)) return { status: 'NOTSURE', cause: `TOOLONG-${totalMs}` }
  const correct = rng.chance(p.amd.accuracy)
  const machine = correct ? callee.machine : !callee.machine
  if (!machine) return { status: 'HUMAN', cause: `HUMAN-${rng.int(1, 3) * 100}-${rng.int(8, 15) * 100}` }
  const cause = rng.pick(p.amd.machineCauses) ?? 'LONGGREETING'
  return { status: 'MACHINE', cause: `${cause}-${rng.int(15, 40) * 100}-${rng.int(15, 25) * 100}` }
}

export interface GatherDraw {
  /** Digits entered ('' on no input). */
  digits: string
  /** Seconds after the prompts end that input completes (or the timeout passes). */
  afterSec: number
  status: 'ok' | 'timeout'
}

/** The digits a callee enters at a gather; per-prompt distributions first (e.g. a poll 55/45). */
export function drawGather (rng: Rng, p: Profile, callee: Callee, prompts: readonly string[], maxDigits: number, timeoutSec: number): GatherDraw {
  if (callee.machine || rng.chance(p.gather.noInputRate)) return { digits: '', afterSec: timeoutSec, status: 'timeout' }
  let weights: Record<string, number> = p.gather.digits
  const rule = promptRule(p, prompts)
  if (rule) weights = rule
  const think = drawSec(rng, p.gather.think)
  if (think >= timeoutSec) return { digits: '', afterSec: timeoutSec, status: 'timeout' }
  const digits = (rng.pick(weights) ?? '').slice(0, maxDigits)
  // Read() ends on maxDigits or on the inter-digit timeout; either way the caller's last key
  // ends the gather, so "ok" with the digits entered.
  return { digits, afterSec: think + Math.max(0, digits.length - 1) * 0.3, status: digits ? 'ok' : 'timeout' }
}

/** A digit pressed during an interruptible prompt, or '' (with the offset into playback). */
export function drawInterrupt (rng: Rng, p: Profile, callee: Callee, escapeDigits: string, playSec: number): { digit: string, atSec: number } {
  if (!escapeDigits || callee.machine || !rng.chance(p.play.interruptRate)) return { digit: '', atSec: playSec }
  return { digit: escapeDigits[rng.int(0, escapeDigits.length - 1)]!, atSec: rng.next() * playSec }
}

export interface DialDraw {
  status: DialStatus
  ringSec: number
  /** Seconds the parties talk after answer (0 unless ANSWER). */
  talkSec: number
}

/** The party a `dial` action calls: answers or not, and how long they talk. */
export function drawDial (rng: Rng, p: Profile, timeoutSec: number): DialDraw {
  let status: DialStatus = rng.pick<DialStatus>(p.dial.outcomes) ?? 'ANSWER'
  let ringSec = drawSec(rng, p.dial.ring)
  if (status === 'CHANUNAVAIL') ringSec = 0
  else if (status === 'BUSY' || status === 'CONGESTION') ringSec = Math.min(ringSec, 2)
  else if (status === 'NOANSWER') ringSec = timeoutSec
  else if (ringSec >= timeoutSec) { status = 'NOANSWER'; ringSec = timeoutSec }
  const talkSec = status === 'ANSWER' ? drawSec(rng, p.dial.talk) : 0
  return { status, ringSec, talkSec }
}

/** Seconds a caller speaks into a recording. */
export function drawRecord (rng: Rng, p: Profile, callee: Callee): number {
  // A machine's greeting has already played; it records mostly silence until its own hangup.
  return callee.machine ? drawSec(rng, p.record.speak) / 2 : drawSec(rng, p.record.speak)
}

/**
 * The per-prompt digit weights for a step: a rule named `camp1/poll` matches the prompt
 * `/var/lib/asterisk/sounds/federate/camp1/poll` (prompts arrive as absolute paths).
 */
export function promptRule (p: Profile, prompts: readonly string[]): Record<string, number> | undefined {
  const rules = p.gather.byPrompt
  for (const prompt of prompts) {
    if (Object.prototype.hasOwnProperty.call(rules, prompt)) return rules[prompt]
    for (const key in rules) if (prompt.endsWith('/' + key)) return rules[key]
  }
  return undefined
}
