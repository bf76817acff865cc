import { test } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import { FaultError } from '@federate/protocol'
import { XmlRpcFaultError } from '@federate/xmlrpc'
import { CircuitBreaker, TierClient } from '../src/app.ts'
import { refusedUrl, startTier } from './helpers.ts'

const logger = pino({ level: 'silent' })
const hb = { instanceId: 'i-1', activeCalls: 0, capacity: 10, manifestVersion: 0, version: 't' }
const step = { callId: 'c1', instanceId: 'i-1', event: 'start' as const, data: {}, channel: {} }

function client (servers: string[], extra: Partial<ConstructorParameters<typeof TierClient>[0]> = {}) {
  return new TierClient({ servers, token: 't', timeoutMs: 1000, connectTimeoutMs: 300, breakerFailures: 2, breakerCooldownMs: 60_000, logger, ...extra })
}

test('the breaker opens after N consecutive failures, lets one probe through after the cool-down, and closes on success', () => {
  let now = 0
  const b = new CircuitBreaker({ failures: 3, cooldownMs: 1000, now: () => now })
  b.failure(); b.failure()
  assert.equal(b.current, 'closed')
  b.success()
  b.failure(); b.failure()
  assert.equal(b.current, 'closed', 'a success in between resets the count')
  b.failure()
  assert.equal(b.current, 'open')
  assert.equal(b.tryAcquire(), false)
  now = 999
  assert.equal(b.tryAcquire(), false)
  now = 1000
  assert.equal(b.current, 'half-open')
  assert.equal(b.tryAcquire(), true, 'one probe')
  assert.equal(b.tryAcquire(), false, 'only one probe at a time')
  b.failure()
  assert.equal(b.current, 'open', 'a failed probe opens it again')
  now = 2000
  assert.equal(b.tryAcquire(), true)
  b.success()
  assert.equal(b.current, 'closed')
  assert.equal(b.tryAcquire(), true)
})

test('a call fails over to the second server when the first refuses connections', async (t) => {
  const tier = await startTier({ step: () => ({ action: 'wait', args: { seconds: 1 }, state: 'x' }) })
  t.after(() => tier.close())
  const c = client([await refusedUrl(), tier.url])
  t.after(() => c.close())
  // Round-robin starts at the dead one for the first call; every call still succeeds.
  for (let i = 0; i < 4; i++) assert.equal((await c.call('call.step', step)).action, 'wait')
  assert.equal(tier.calls.length, 4)
  assert.deepEqual(c.status().map((s) => s.state), ['open', 'closed'])
})

test('an open circuit is skipped, probed after the cool-down, and closed again when the server is back', async (t) => {
  const dead = await refusedUrl()
  const live = await startTier()
  t.after(() => live.close())
  const c = client([dead, live.url], { breakerFailures: 1, breakerCooldownMs: 150 })
  t.after(() => c.close())
  await c.call('instance.heartbeat', hb)
  assert.equal(c.status()[0]!.state, 'open')
  const started = performance.now()
  for (let i = 0; i < 5; i++) await c.call('instance.heartbeat', hb)
  assert.ok(performance.now() - started < 500)
  await new Promise((resolve) => setTimeout(resolve, 160))
  assert.equal(c.status()[0]!.state, 'half-open')
  // The server comes back on the same port: the next probe closes the circuit.
  const back = await startTier({}, Number(new URL(dead).port))
  t.after(() => back.close())
  for (let i = 0; i < 2; i++) await c.call('instance.heartbeat', hb)
  assert.equal(c.status()[0]!.state, 'closed')
  assert.ok(back.calls.length >= 1)
})

test('with every circuit open the call fails at once with FED_AGENT_NO_SERVER', async (t) => {
  const c = client([await refusedUrl(), await refusedUrl()], { breakerFailures: 1 })
  t.after(() => c.close())
  await assert.rejects(c.call('instance.heartbeat', hb), { code: 'FED_AGENT_NO_SERVER' })
  const started = performance.now()
  await assert.rejects(c.call('instance.heartbeat', hb), /circuit is open/)
  assert.ok(performance.now() - started < 50)
})

test('a retryable fault is resent to another server; a final fault is not', async (t) => {
  const busy = await startTier({ end: () => { throw new FaultError('NOT_DURABLE', 'db down') }, step: () => { throw new FaultError('NOT_ROUTED') } })
  const ok = await startTier({ step: () => ({ action: 'wait', args: { seconds: 1 }, state: 'x' }) })
  t.after(() => busy.close())
  t.after(() => ok.close())
  const c = client([busy.url, ok.url])
  t.after(() => c.close())
  const end = { callId: 'c1', instanceId: 'i-1', cause: '16', durationSec: 1, billSec: 1 }
  assert.deepEqual({ ...await c.call('call.end', end) }, { ok: true })
  assert.equal(busy.calls.length, 1)
  assert.equal(ok.calls.length, 1)
  // NOT_ROUTED is final: the next call starts at `busy` (round-robin) and is not resent.
  await assert.rejects(c.call('call.step', step), (err: unknown) => err instanceof XmlRpcFaultError && err.faultCode === 1201)
  assert.equal(ok.calls.length, 1)
  assert.deepEqual(c.status().map((s) => s.state), ['closed', 'closed'], 'a server that answers with a fault is healthy')
})
