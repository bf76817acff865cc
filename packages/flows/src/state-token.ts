import { createHmac, timingSafeEqual } from 'node:crypto'
import Type from 'typebox'
import { Compile } from 'typebox/compile'
import { FlowsError, StateTokenError } from './errors.ts'
import { FlowStateSchema, type FlowState } from './state.ts'

// The call's state travels with the call (a channel variable the agent sends back on every
// step), so any app server can answer any step. Format:
//   v1.<kid>.<payload base64url>.<HMAC-SHA256 of "v1.<kid>.<payload>" base64url>
// The payload is JSON with one-letter keys (it is on the wire on every step) and an expiry.

/** Signing keys by id; `current` signs, every listed key verifies (rotation). */
export interface Keyring {
  current: string
  keys: Record<string, string | Uint8Array>
}

export interface StateTokenOptions {
  /** Seconds a token stays valid after it is sealed (default 4 h: longer than any call). */
  maxAgeSec?: number
  /** Largest token accepted or produced, in bytes (default 4 KiB). */
  maxBytes?: number
}

export const STATE_TOKEN_DEFAULTS = Object.freeze({ maxAgeSec: 4 * 3600, maxBytes: 4096 })
export const MIN_KEY_BYTES = 16

const KID = /^[A-Za-z0-9_-]{1,16}$/
const B64URL = /^[A-Za-z0-9_-]+$/

// Long state names <-> short payload keys. `x` is the expiry (Unix seconds).
const SHORT = { node: 'n', retries: 'r', vars: 'v', steps: 's', done: 'd', await: 'a', hops: 'h', http: 't', ref: 'f', call: 'c' } as const
type Long = keyof typeof SHORT

const Payload = Compile(Type.Object({
  n: Type.String(),
  r: Type.Optional(Type.Integer()),
  v: Type.Optional(Type.Record(Type.String(), Type.String())),
  s: Type.Integer(),
  d: Type.Optional(Type.String()),
  a: Type.Optional(Type.String()),
  h: Type.Optional(Type.Integer()),
  t: Type.Optional(Type.Integer()),
  f: Type.Optional(Type.String()),
  c: Type.Optional(Type.String()),
  x: Type.Integer(),
}, { additionalProperties: false }))
const StateCheck = Compile(FlowStateSchema)

/** Throws FED_FLOWS_BAD_KEYRING unless `current` is listed and every key id and secret is usable. */
export function checkKeyring (keyring: Keyring): void {
  if (typeof keyring !== 'object' || keyring === null || typeof keyring.keys !== 'object' || keyring.keys === null) {
    throw new FlowsError('FED_FLOWS_BAD_KEYRING', 'state keyring must be { current, keys }')
  }
  if (!Object.hasOwn(keyring.keys, keyring.current)) throw new FlowsError('FED_FLOWS_BAD_KEYRING', `state keyring has no key '${keyring.current}' (current)`)
  for (const [kid, secret] of Object.entries(keyring.keys)) {
    if (!KID.test(kid)) throw new FlowsError('FED_FLOWS_BAD_KEYRING', `state key id '${kid}' must match ${KID.source}`)
    const bytes = typeof secret === 'string' ? Buffer.byteLength(secret) : secret?.byteLength
    if (!(bytes >= MIN_KEY_BYTES)) throw new FlowsError('FED_FLOWS_BAD_KEYRING', `state key '${kid}' is shorter than ${MIN_KEY_BYTES} bytes`)
  }
}

function mac (secret: string | Uint8Array, signed: string): Buffer {
  return createHmac('sha256', secret).update(signed).digest()
}

/** Signs a state into a token with the keyring's current key; `now` in milliseconds. */
export function sealState (state: FlowState, keyring: Keyring, now: number, options: StateTokenOptions = {}): string {
  checkKeyring(keyring)
  if (!StateCheck.Check(state)) {
    const first = [...StateCheck.Errors(state)][0]
    throw new FlowsError('FED_FLOWS_BAD_STATE', `state to seal is invalid: ${first?.instancePath ?? ''} ${first?.message ?? ''}`.trim())
  }
  const { maxAgeSec, maxBytes } = { ...STATE_TOKEN_DEFAULTS, ...options }
  const payload: Record<string, unknown> = {}
  for (const [long, short] of Object.entries(SHORT) as Array<[Long, string]>) {
    const value = state[long]
    if (value === undefined) continue
    if (long === 'retries' && value === 0) continue
    if (long === 'vars' && Object.keys(value as object).length === 0) continue
    payload[short] = value
  }
  payload.x = Math.floor(now / 1000) + maxAgeSec
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url')
  const signed = `v1.${keyring.current}.${body}`
  const token = `${signed}.${mac(keyring.keys[keyring.current]!, signed).toString('base64url')}`
  if (token.length > maxBytes) {
    throw new FlowsError('FED_FLOWS_STATE_TOO_LARGE', `state token would be ${token.length} bytes, more than ${maxBytes}`)
  }
  return token
}

/**
 * Verifies a token (signed by any key of the keyring) and returns its state; `now` in
 * milliseconds. Throws StateTokenError with fault STATE_INVALID (malformed, tampered, unknown
 * key, too large) or STATE_EXPIRED.
 */
export function openState (token: string, keyring: Keyring, now: number, options: StateTokenOptions = {}): FlowState {
  checkKeyring(keyring)
  const { maxBytes } = { ...STATE_TOKEN_DEFAULTS, ...options }
  const invalid = (why: string, cause?: unknown) => new StateTokenError('STATE_INVALID', `state token ${why}`, cause === undefined ? undefined : { cause })
  if (typeof token !== 'string') throw invalid('is not a string')
  if (token.length > maxBytes) throw invalid(`is longer than ${maxBytes} bytes`)
  const parts = token.split('.')
  if (parts.length !== 4 || parts[0] !== 'v1') throw invalid('is not a v1 token')
  const [, kid, body, sig] = parts as [string, string, string, string]
  if (!KID.test(kid) || !B64URL.test(body) || !B64URL.test(sig)) throw invalid('is malformed')
  if (!Object.hasOwn(keyring.keys, kid)) throw invalid(`is signed with an unknown key '${kid}'`)
  const given = Buffer.from(sig, 'base64url')
  const expected = mac(keyring.keys[kid]!, `v1.${kid}.${body}`)
  // Compare only equal lengths (timingSafeEqual throws otherwise) and a canonical encoding.
  if (given.length !== expected.length || given.toString('base64url') !== sig || !timingSafeEqual(given, expected)) {
    throw invalid('signature does not match')
  }
  let payload: unknown
  try {
    payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'))
  } catch (err) {
    throw invalid('payload is not JSON', err)
  }
  if (!Payload.Check(payload)) throw invalid('payload has the wrong shape')
  if (now >= payload.x * 1000) throw new StateTokenError('STATE_EXPIRED', `state token expired at ${new Date(payload.x * 1000).toISOString()}`)
  const state: Record<string, unknown> = { retries: 0, vars: {} }
  for (const [long, short] of Object.entries(SHORT)) {
    const value = (payload as Record<string, unknown>)[short]
    if (value !== undefined) state[long] = value
  }
  if (!StateCheck.Check(state)) throw invalid('state has the wrong shape')
  return state as FlowState
}
