import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { test } from 'node:test'
import { Faults } from '@federate/protocol'
import { FlowsError, openState, sealState, StateTokenError, type FlowState, type Keyring } from '../src/index.ts'

const keyring: Keyring = { current: 'k1', keys: { k1: 'a-secret-of-at-least-16-bytes-1', k0: 'an-older-secret-still-valid-000' } }
const now = Date.UTC(2026, 0, 1, 12, 0, 0)
const state: FlowState = {
  node: 'menu', retries: 1, vars: { callerid: '+15550001', choice: '2', name: 'Zoë' }, steps: 3, ref: 'flow-1@4', call: 'call-9',
}

function fault (fn: () => unknown, expected: 'STATE_INVALID' | 'STATE_EXPIRED', message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StateTokenError, String(err))
    assert.equal(err.fault, expected)
    assert.ok(Faults[err.fault], 'maps to a protocol fault by name')
    assert.equal(err.code, expected === 'STATE_EXPIRED' ? 'FED_FLOWS_STATE_EXPIRED' : 'FED_FLOWS_STATE_INVALID')
    if (message) assert.match(err.message, message)
    return true
  })
}

// Re-signs a payload with a key, as an attacker holding that key (or none) would.
function forge (payload: unknown, kid = 'k1', secret = keyring.keys.k1 as string): string {
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url')
  const signed = `v1.${kid}.${body}`
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`
}

test('a sealed state opens to the same state', () => {
  const token = sealState(state, keyring, now)
  assert.match(token, /^v1\.k1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/)
  assert.deepEqual(openState(token, keyring, now + 1000), state)
})

test('defaults are left out of the payload and restored when opened', () => {
  const minimal: FlowState = { node: 'a', retries: 0, vars: {}, steps: 1 }
  const token = sealState(minimal, keyring, now)
  const payload = JSON.parse(Buffer.from(token.split('.')[2]!, 'base64url').toString())
  assert.deepEqual(Object.keys(payload).sort(), ['n', 's', 'x'])
  assert.deepEqual(openState(token, keyring, now), minimal)
})

test('the payload uses one-letter keys and stays compact', () => {
  const token = sealState(state, keyring, now)
  const payload = JSON.parse(Buffer.from(token.split('.')[2]!, 'base64url').toString())
  assert.deepEqual(Object.keys(payload).sort(), ['c', 'f', 'n', 'r', 's', 'v', 'x'])
  assert.ok(token.length < 260, `token is ${token.length} bytes`)
})

test('a tampered payload is refused', () => {
  const [v, kid, body, mac] = sealState(state, keyring, now).split('.')
  const payload = JSON.parse(Buffer.from(body!, 'base64url').toString())
  payload.n = 'vip'
  const changed = Buffer.from(JSON.stringify(payload)).toString('base64url')
  fault(() => openState([v, kid, changed, mac].join('.'), keyring, now), 'STATE_INVALID', /signature does not match/)
})

test('a tampered or truncated signature is refused', () => {
  const token = sealState(state, keyring, now)
  const flipped = token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.at(-1)
  fault(() => openState(flipped, keyring, now), 'STATE_INVALID', /signature/)
  fault(() => openState(token.slice(0, -4), keyring, now), 'STATE_INVALID', /signature/)
  // Another encoding of the same bytes (last character's unused bits set) is not canonical.
  const mac = token.split('.')[3]!
  const alias = mac.slice(0, -1) + String.fromCharCode(mac.charCodeAt(mac.length - 1) + 1)
  fault(() => openState(token.replace(mac, alias), keyring, now), 'STATE_INVALID')
})

test('a token signed with an unknown key is refused', () => {
  fault(() => openState(forge({ n: 'a', s: 1, x: now / 1000 + 60 }, 'k9', 'some-other-secret-16b'), keyring, now), 'STATE_INVALID', /unknown key 'k9'/)
  fault(() => openState(forge({ n: 'a', s: 1, x: now / 1000 + 60 }, 'k1', 'wrong-secret-but-long-enough'), keyring, now), 'STATE_INVALID', /signature/)
})

test('an expired token is refused with STATE_EXPIRED', () => {
  const token = sealState(state, keyring, now)
  assert.deepEqual(openState(token, keyring, now + 4 * 3600 * 1000 - 1000), state)
  fault(() => openState(token, keyring, now + 4 * 3600 * 1000), 'STATE_EXPIRED', /expired at 2026-01-01T16:00:00/)
  const short = sealState(state, keyring, now, { maxAgeSec: 10 })
  fault(() => openState(short, keyring, now + 10_000), 'STATE_EXPIRED')
})

test('an oversized state cannot be sealed, and an oversized token is refused before any work', () => {
  const big: FlowState = { ...state, vars: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`v${i}`, 'x'.repeat(100)])) }
  assert.throws(() => sealState(big, keyring, now), (err: unknown) => err instanceof FlowsError && err.code === 'FED_FLOWS_STATE_TOO_LARGE')
  const token = sealState(big, keyring, now, { maxBytes: 8192 })
  assert.deepEqual(openState(token, keyring, now, { maxBytes: 8192 }), big)
  fault(() => openState(token, keyring, now), 'STATE_INVALID', /longer than 4096 bytes/)
})

test('keys rotate: old tokens still open, new tokens use the current key', () => {
  const old = sealState(state, { ...keyring, current: 'k0' }, now)
  assert.match(old, /^v1\.k0\./)
  const rotated: Keyring = { current: 'k2', keys: { ...keyring.keys, k2: 'the-newest-secret-of-16-bytes' } }
  assert.deepEqual(openState(old, rotated, now), state)
  assert.match(sealState(state, rotated, now), /^v1\.k2\./)
  const retired: Keyring = { current: 'k2', keys: { k2: rotated.keys.k2! } }
  fault(() => openState(old, retired, now), 'STATE_INVALID', /unknown key 'k0'/)
})

test('malformed tokens are refused as STATE_INVALID', () => {
  const exp = now / 1000 + 60
  for (const bad of ['', 'v1', 'v2.k1.e30.AAAA', 'v1.k1.e30', 'v1.k1.e30.AAAA.x', 'v1.k 1.e30.AAAA', 'v1.k1.e+0.AAAA', 42 as unknown as string]) {
    fault(() => openState(bad, keyring, now), 'STATE_INVALID')
  }
  // Correctly signed, but not a state.
  fault(() => openState(forge('just text'), keyring, now), 'STATE_INVALID', /wrong shape/)
  fault(() => openState(forge({ n: 'a', s: 1 }), keyring, now), 'STATE_INVALID', /wrong shape/)
  fault(() => openState(forge({ n: 'a', s: 1, x: exp, z: 1 }), keyring, now), 'STATE_INVALID', /wrong shape/)
  fault(() => openState(forge({ n: 'a', s: 1, x: exp, d: 'maybe' }), keyring, now), 'STATE_INVALID', /state has the wrong shape/)
  const proto = JSON.parse('{"n":"a","s":1,"x":' + exp + ',"v":{"__proto__":"x"}}')
  fault(() => openState(forge(proto), keyring, now), 'STATE_INVALID', /state has the wrong shape/)
  const notJson = (() => {
    const body = Buffer.from('{nope').toString('base64url')
    const signed = `v1.k1.${body}`
    return `${signed}.${createHmac('sha256', keyring.keys.k1 as string).update(signed).digest('base64url')}`
  })()
  fault(() => openState(notJson, keyring, now), 'STATE_INVALID', /not JSON/)
})

test('a state of the wrong shape is not sealed', () => {
  const bad = { ...state, vars: { 'not a name': 'x' } }
  assert.throws(() => sealState(bad, keyring, now), (err: unknown) => err instanceof FlowsError && err.code === 'FED_FLOWS_BAD_STATE')
})

test('a bad keyring is a configuration error', () => {
  const bad = (k: unknown) => assert.throws(() => sealState(state, k as Keyring, now), (err: unknown) => err instanceof FlowsError && err.code === 'FED_FLOWS_BAD_KEYRING')
  bad({ current: 'k3', keys: { k1: 'a-secret-of-at-least-16-bytes' } })
  bad({ current: 'k1', keys: { k1: 'short' } })
  bad({ current: 'bad kid', keys: { 'bad kid': 'a-secret-of-at-least-16-bytes' } })
  bad(null)
  assert.doesNotThrow(() => sealState(state, { current: 'b', keys: { b: new Uint8Array(32) } }, now))
})
