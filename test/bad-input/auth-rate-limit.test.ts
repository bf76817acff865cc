import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { createApiKey, revokeInstanceTokens } from '@federate/db'
import { AuthFailureLimiter } from '@federate/server'
import { startTestServer } from '../helpers/server.ts'
import { faultOf, publish, request, stepXml, str } from './helpers.ts'

const poll = JSON.parse(await readFile(new URL('../../examples/flows/poll.json', import.meta.url), 'utf8'))
const T0 = 1_800_000_000_000
const BAD_KEY = 'fed_0123456789abcdef_' + 'A'.repeat(43)

test('the limiter refuses an address after too many failures and lets it in again as the window slides', () => {
  const l = new AuthFailureLimiter({ maxFailures: 3, windowSec: 10 })
  for (let i = 0; i < 3; i++) {
    assert.equal(l.refuseFor('10.1.1.1', 'k', T0), 0)
    l.fail('10.1.1.1', T0)
  }
  // Over the limit: 4 failures in this bucket (the refused try counts); below 3 once 2.5 s of the next bucket pass.
  assert.equal(l.refuseFor('10.1.1.1', 'k', T0), 13)
  assert.equal(l.refuseFor('10.1.1.2', 'k', T0), 0, 'another address is not affected')
  assert.equal(l.refuseFor('10.1.1.1', 'k', T0 + 13_000), 0)
  const w = new AuthFailureLimiter({ maxFailures: 3, windowSec: 10 })
  for (let i = 0; i < 3; i++) w.fail('10.1.1.1', T0)
  assert.equal(w.refuseFor('10.1.1.1', 'k', T0 + 9_999), 3, 'the failures weigh in full until their window ends, then fade')
  // An address that keeps trying stays refused.
  const m = new AuthFailureLimiter({ maxFailures: 2, windowSec: 10 })
  m.fail('a', T0); m.fail('a', T0)
  for (let s = 0; s < 60; s += 2) assert.ok(m.refuseFor('a', 'k', T0 + s * 1000) > 0, `still refused at ${s} s`)
})

test('a credential verified good is still checked from a blocked address; unknown ones are refused', () => {
  const l = new AuthFailureLimiter({ maxFailures: 2, windowSec: 60 })
  l.succeeded('good', T0)
  l.fail('nat', T0); l.fail('nat', T0)
  assert.equal(l.refuseFor('nat', 'good', T0 + 1000), 0)
  assert.ok(l.refuseFor('nat', 'new', T0 + 1000) > 0)
  // Known good for an hour, not forever.
  assert.ok(l.refuseFor('nat', 'good', T0 + 3601_000 - 30_000) === 0)
  l.fail('nat', T0 + 3601_000); l.fail('nat', T0 + 3601_000)
  assert.ok(l.refuseFor('nat', 'good', T0 + 3601_000) > 0)
})

test('the limiter holds a bounded number of addresses and credentials, and a limit of 0 turns it off', () => {
  const l = new AuthFailureLimiter({ maxFailures: 5, windowSec: 60, maxAddresses: 1000, maxKnownGood: 500 })
  for (let i = 0; i < 20_000; i++) {
    l.fail(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, T0 + i)
    l.succeeded(`key-${i}`, T0 + i)
  }
  assert.deepEqual(l.size, { addresses: 1000, knownGood: 500 })
  // Entries older than two windows go as new ones arrive.
  l.fail('late', T0 + 200_000)
  assert.ok(l.size.addresses < 1000)

  const off = new AuthFailureLimiter({ maxFailures: 0, windowSec: 60 })
  for (let i = 0; i < 100; i++) off.fail('x', T0)
  assert.equal(off.refuseFor('x', 'k', T0), 0)
  assert.deepEqual(off.size, { addresses: 0, knownGood: 0 })
})

test('REST: too many bad keys from one address get 429 with Retry-After; keys already verified keep working', async (t) => {
  const s = await startTestServer(t, { FEDERATE_AUTH_FAILURE_LIMIT: '5', FEDERATE_AUTH_FAILURE_WINDOW_SEC: '60' })
  const get = async (key: string) => await request(`${s.url}/api/v1/flows`, { headers: { authorization: `Bearer ${key}` } })
  assert.equal((await get(s.adminKey)).status, 200)
  const viewer = await createApiKey(s.deps.pool, 'viewer', 'new-viewer')
  for (let i = 0; i < 5; i++) assert.equal((await get(BAD_KEY)).status, 401)
  // A missing key is no guess and is not counted (nor limited).
  assert.equal((await request(`${s.url}/api/v1/flows`)).status, 401)

  const limited = await get(BAD_KEY)
  assert.equal(limited.status, 429, limited.text)
  const body = JSON.parse(limited.text)
  assert.equal(body.code, 'FED_AUTH_RATE_LIMITED')
  assert.match(body.message, /too many failed authentications from this address; retry after \d+ s/)
  assert.ok(Number(limited.headers['retry-after']) >= 1 && Number(limited.headers['retry-after']) <= 120, String(limited.headers['retry-after']))
  // Malformed credentials count as guesses too.
  assert.equal((await get('not-a-key')).status, 429)

  // The admin key was verified before: it still works from this address...
  assert.equal((await get(s.adminKey)).status, 200)
  // ...while a key this address never used is refused without being looked up, until the window slides.
  assert.equal((await get(viewer.key)).status, 429)
  const metrics = await (await fetch(`${s.url}/metrics`)).text()
  assert.match(metrics, /federate_auth_failures_total\{kind="api_key_rate_limited"\} [1-9]/)
})

test('REST behind a trusted proxy: the limit is per client address from X-Forwarded-For', async (t) => {
  const s = await startTestServer(t, { FEDERATE_AUTH_FAILURE_LIMIT: '3', FEDERATE_TRUST_PROXY: 'true' })
  const get = async (key: string, from: string) => await request(`${s.url}/api/v1/flows`, { headers: { authorization: `Bearer ${key}`, 'x-forwarded-for': from } })
  for (let i = 0; i < 3; i++) assert.equal((await get(BAD_KEY, '198.51.100.7')).status, 401)
  assert.equal((await get(BAD_KEY, '198.51.100.7')).status, 429)
  assert.equal((await get(BAD_KEY, '198.51.100.8')).status, 401, 'another client behind the same proxy is not limited')
  assert.equal((await get(s.adminKey, '198.51.100.8')).status, 200)
})

test('behind an ALB (FEDERATE_TRUST_PROXY=1): the client cannot escape the limit by writing its own X-Forwarded-For', async (t) => {
  const s = await startTestServer(t, { FEDERATE_AUTH_FAILURE_LIMIT: '3', FEDERATE_TRUST_PROXY: '1' })
  // The ALB appends the address it saw; the client controls what comes before it.
  const get = async (key: string, forwarded: string) => await request(`${s.url}/api/v1/flows`, { headers: { authorization: `Bearer ${key}`, 'x-forwarded-for': forwarded } })
  for (let i = 0; i < 3; i++) assert.equal((await get(BAD_KEY, `10.9.9.${i}, 198.51.100.7`)).status, 401)
  assert.equal((await get(BAD_KEY, '10.9.9.99, 198.51.100.7')).status, 429, 'a new spoofed entry is still the same client')
  assert.equal((await get(BAD_KEY, '10.9.9.1, 198.51.100.8')).status, 401, 'another client behind the ALB is not limited')
})

test('XML-RPC: too many bad tokens get fault 1001 saying when to retry; the fleet\'s good tokens keep stepping, revocation still applies', async (t) => {
  // No verified-token cache: every step goes to the limiter and the database, the hardest case.
  const s = await startTestServer(t, { FEDERATE_AUTH_FAILURE_LIMIT: '4', FEDERATE_AUTH_CACHE_SEC: '0' })
  await publish(s, 'poll', poll, ['3000'])
  const good = await s.tokenFor('ast-1')
  const step = async (token: string, callId: string, instanceId = 'ast-1') => await request(s.rpcUrl, {
    headers: { 'content-type': 'text/xml', authorization: `Bearer ${token}` },
    body: stepXml({ callId: str(callId), instanceId: str(instanceId) }),
  })
  assert.equal(faultOf(await step(good, 'c0')), undefined)
  const wrong = good.slice(0, -4) + (good.endsWith('AAAA') ? 'BBBB' : 'AAAA')
  for (let i = 0; i < 4; i++) assert.deepEqual(faultOf(await step(wrong, `w${i}`)), { code: 1001, text: 'missing or invalid instance token' })
  const limited = faultOf(await step(wrong, 'w9'))
  assert.equal(limited?.code, 1001)
  assert.match(limited!.text, /too many failed authentications from this address; retry after \d+ s/)

  for (let i = 1; i <= 20; i++) assert.equal(faultOf(await step(good, `c${i}`)), undefined, `good step ${i}`)
  const newcomer = await s.tokenFor('ast-2')
  assert.match(faultOf(await step(newcomer, 'n1', 'ast-2'))!.text, /too many failed/)

  await revokeInstanceTokens(s.deps.pool, 'ast-1')
  assert.deepEqual(faultOf(await step(good, 'c99')), { code: 1001, text: 'missing or invalid instance token' })
})
