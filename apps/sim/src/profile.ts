import Type from 'typebox'
import { Compile } from 'typebox/compile'
import { SimError } from './errors.ts'

// How simulated callees behave. A profile is JSON; every field has a default, so `{}` is a
// valid profile and a file only names what it changes. Rates are weights (normalised), times
// are simulated seconds. Log-normal draws take a median and a sigma.

const Weights = Type.Record(Type.String({ maxLength: 64 }), Type.Number({ minimum: 0 }))
const spread = (median: number, sigma: number, max: number) => Type.Object({
  medianSec: Type.Number({ minimum: 0, default: median }),
  sigma: Type.Number({ minimum: 0, maximum: 5, default: sigma }),
  maxSec: Type.Number({ minimum: 0, default: max }),
})

export const ProfileSchema = Type.Object({
  /** What happens to an Originate: weights of answer, busy, noanswer, congestion, unavailable. */
  outcomes: Type.Object({
    answer: Type.Number({ minimum: 0, default: 0.7 }),
    busy: Type.Number({ minimum: 0, default: 0.08 }),
    noanswer: Type.Number({ minimum: 0, default: 0.15 }),
    congestion: Type.Number({ minimum: 0, default: 0.04 }),
    unavailable: Type.Number({ minimum: 0, default: 0.03 }),
  }),
  /** Ring time before answer (or before busy/congestion signalling). */
  ring: spread(6, 0.5, 45),
  /** Share of answered calls that reach an answering machine. */
  machineRate: Type.Number({ minimum: 0, maximum: 1, default: 0.15 }),
  amd: Type.Object({
    /** Chance AMD classifies a human or a machine correctly; otherwise the other way or NOTSURE. */
    accuracy: Type.Number({ minimum: 0, maximum: 1, default: 0.95 }),
    notSureRate: Type.Number({ minimum: 0, maximum: 1, default: 0.02 }),
    /** AMDCAUSE prefixes for MACHINE results, as Asterisk's app_amd reports them. */
    machineCauses: Type.Record(Type.String(), Type.Number({ minimum: 0 }), { default: { LONGGREETING: 0.6, MAXWORDS: 0.25, MAXWORDLENGTH: 0.15 } }),
    /** Simulated analysis time. */
    analysisSec: Type.Number({ minimum: 0, default: 2.5 }),
  }),
  play: Type.Object({
    /** Length of one prompt. */
    promptSec: Type.Number({ minimum: 0, default: 3 }),
    /** Chance a human presses an escape digit during an interruptible prompt. */
    interruptRate: Type.Number({ minimum: 0, maximum: 1, default: 0.05 }),
  }),
  gather: Type.Object({
    /** Chance the caller enters nothing (the gather times out). */
    noInputRate: Type.Number({ minimum: 0, maximum: 1, default: 0.08 }),
    /** Time from the end of the prompts to the first digit. */
    think: spread(1.5, 0.5, 30),
    /** Digits entered when no per-prompt rule matches: weights by digit string. */
    digits: Type.Record(Type.String(), Type.Number({ minimum: 0 }), {
      default: { 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1, 9: 1, 0: 1 },
    }),
    /** Per prompt name (any prompt of the step; the first listed match wins): weights by digit string, e.g. a poll 55/45. */
    byPrompt: Type.Record(Type.String({ maxLength: 255 }), Weights, { default: {} }),
  }),
  /** Callers who hang up mid-flow: the share that do, and when (after answer). */
  hangup: Type.Object({
    rate: Type.Number({ minimum: 0, maximum: 1, default: 0.05 }),
    after: spread(20, 0.8, 600),
  }),
  /** A machine stops listening (hangs up) this long after answering. */
  machineHangup: spread(35, 0.3, 120),
  /** The party a `dial` action calls. */
  dial: Type.Object({
    outcomes: Type.Object({
      ANSWER: Type.Number({ minimum: 0, default: 0.75 }),
      BUSY: Type.Number({ minimum: 0, default: 0.08 }),
      NOANSWER: Type.Number({ minimum: 0, default: 0.12 }),
      CONGESTION: Type.Number({ minimum: 0, default: 0.03 }),
      CHANUNAVAIL: Type.Number({ minimum: 0, default: 0.02 }),
    }),
    ring: spread(5, 0.5, 60),
    talk: spread(45, 0.8, 3600),
  }),
  record: Type.Object({
    /** How long a caller speaks before silence ends the recording. */
    speak: spread(8, 0.6, 600),
    /** Write a 440 Hz tone instead of silence (easier to hear in demos). */
    tone: Type.Boolean({ default: false }),
  }),
  /** Inbound caller numbers: a prefix and random digits. */
  inbound: Type.Object({
    callerIdPrefix: Type.String({ pattern: '^\\+?[0-9]{0,15}$', default: '+1555' }),
    callerIdDigits: Type.Integer({ minimum: 0, maximum: 15, default: 7 }),
  }),
})

export type Profile = Type.Static<typeof ProfileSchema>
export type Spread = Profile['ring']

const check = Compile(ProfileSchema)

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

// The defaults live in the schema; build them once by walking it.
function defaultsOf (schema: unknown): unknown {
  const s = schema as { type?: string, default?: unknown, properties?: Record<string, unknown> }
  if (s.default !== undefined) return structuredClone(s.default)
  if (s.type === 'object' && s.properties) {
    return Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, defaultsOf(v)]))
  }
  return undefined
}

function merge (base: unknown, over: unknown, weightMaps: boolean): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over
  // Weight maps (digits, byPrompt entries, machineCauses) replace rather than merge: naming
  // "1" and "2" for a poll must not keep the default 0..9.
  if (weightMaps) return over
  const out: Record<string, unknown> = Object.assign(Object.create(null), base)
  for (const [k, v] of Object.entries(over)) {
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') continue
    out[k] = merge(base[k], v, k === 'digits' || k === 'machineCauses' || k === 'byPrompt')
  }
  return { ...out }
}

/** The default profile. */
export function defaultProfile (): Profile {
  return defaultsOf(ProfileSchema) as Profile
}

/**
 * A full profile from a partial one (e.g. parsed JSON): defaults fill what is missing.
 * Throws FED_SIM_BAD_PROFILE naming the first wrong field.
 */
export function resolveProfile (partial: unknown = {}): Profile {
  if (partial !== undefined && !isObject(partial)) throw new SimError('FED_SIM_BAD_PROFILE', 'a profile must be a JSON object')
  const merged = merge(defaultProfile(), partial ?? {}, false)
  if (!check.Check(merged)) {
    const e = [...check.Errors(merged)][0]
    throw new SimError('FED_SIM_BAD_PROFILE', `profile ${e?.instancePath || '/'} ${e?.message ?? 'is invalid'}`)
  }
  const profile = merged as Profile
  // Record keys are not checked by the schema: digit strings must be what a keypad can send.
  const maps: Array<[string, Record<string, number>]> = [['/gather/digits', profile.gather.digits]]
  for (const [prompt, w] of Object.entries(profile.gather.byPrompt)) maps.push([`/gather/byPrompt/${prompt}`, w])
  for (const [path, weights] of maps) {
    for (const key of Object.keys(weights)) {
      if (!/^[0-9*#]{1,32}$/.test(key)) throw new SimError('FED_SIM_BAD_PROFILE', `profile ${path} key ${JSON.stringify(key)} is not a digit string`)
    }
  }
  return Object.freeze(profile)
}
