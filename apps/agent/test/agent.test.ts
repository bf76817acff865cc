import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { waitFor } from '@federate/testkit'
import { createAgent, originateCause } from '../src/app.ts'
import { startFakeAmi, startTier, tempDir, testConfig, type TierImpl } from './helpers.ts'

type Job = { callId: string, to: string, from: string, campaignId: string, flowRef: string, vars: Record<string, string>, ringTimeoutSec?: number }
const job = (callId: string, extra: Partial<Job> = {}): Job => ({ callId, to: '+15551230000', from: '+15559990000', campaignId: 'camp-1', flowRef: 'flow@3', vars: { name: 'Ada' }, ...extra })

async function campaign (t: import('node:test').TestContext, impl: TierImpl, opts: Parameters<typeof startFakeAmi>[0] = {}, config: Record<string, unknown> = {}) {
  const tier = await startTier(impl)
  t.after(() => tier.close())
  const ami = await startFakeAmi(opts)
  t.after(() => ami.close())
  const agent = createAgent(testConfig({
    servers: [tier.url], spoolDir: await tempDir(t), amiEnabled: true, amiPort: ami.port, amiSecret: 'pw', capacity: 3, ...config,
  }))
  t.after(() => agent.close())
  await agent.start()
  return { tier, ami, agent }
}

test('OriginateResponse reasons map to call.end causes', () => {
  assert.deepEqual([0, 1, 3, 5, 8, 2, -1].map((reason) => originateCause({ response: 'Failure', reason })),
    ['CHANUNAVAIL', 'FAILED', 'NOANSWER', 'BUSY', 'CONGESTION', 'FAILED', 'FAILED'])
})

test('leased jobs are originated into the campaign context, and a failed one is reported with call.end', async (t) => {
  let leased = false
  const { tier, ami } = await campaign(t, {
    next: (p) => {
      if (leased) return []
      leased = true
      assert.equal(p.free, 3)
      return [job('c-ok'), job('c-busy', { to: 'SIP/direct', ringTimeoutSec: 15, vars: { a: 'x,y', b: 'ok' } })]
    },
  }, { originate: (f) => f.ChannelId === 'c-busy' ? { response: 'Failure', reason: 5 } : { response: 'Success', reason: 4 } })
  await waitFor(() => tier.calls.some((c) => c.method === 'call.end'), { what: 'call.end for the busy callee' })
  const ends = tier.calls.filter((c) => c.method === 'call.end')
  assert.deepEqual(ends.map((c) => c.params), [{ callId: 'c-busy', instanceId: 'i-test', cause: 'BUSY', durationSec: 0, billSec: 0 }])
  const ok = ami.originates.find((o) => o.fields.ChannelId === 'c-ok')!
  assert.equal(ok.fields.Channel, 'PJSIP/+15551230000@carrier')
  assert.equal(ok.fields.Context, 'federate-campaign')
  assert.equal(ok.fields.Exten, 's')
  assert.equal(ok.fields.Priority, '1')
  assert.equal(ok.fields.Timeout, '30000')
  assert.equal(ok.fields.CallerID, '+15559990000')
  assert.deepEqual(ok.variables, ['FED_CALLID=c-ok', 'FED_CAMPAIGN=camp-1', 'FED_FLOWREF=flow@3', 'FED_VAR_name=Ada'])
  const busy = ami.originates.find((o) => o.fields.ChannelId === 'c-busy')!
  assert.equal(busy.fields.Channel, 'SIP/direct')
  assert.equal(busy.fields.Timeout, '15000')
  assert.ok(!busy.variables.some((v) => v.startsWith('FED_VAR_a=')), 'a value with a comma cannot go through AMI')
})

test('free capacity counts live calls by Linkedid and originates still ringing, once each', async (t) => {
  const live = [
    { Channel: 'PJSIP/in-1', Uniqueid: '1.1', Linkedid: '1.1' },
    { Channel: 'PJSIP/out-2', Uniqueid: '1.2', Linkedid: '1.1' },
  ]
  const frees: number[] = []
  let n = 0
  await campaign(t, {
    next: (p) => { frees.push(p.free); return n++ === 0 ? [job('ringing')] : [] },
  }, {
    // The ringing originate shows up as a channel whose Uniqueid/Linkedid is its ChannelId.
    originate: (f) => { live.push({ Channel: 'PJSIP/r', Uniqueid: f.ChannelId!, Linkedid: f.ChannelId! }); return { response: 'Success', reason: 4, delayMs: 10_000 } },
    channels: () => live,
  })
  await waitFor(() => frees.length >= 3, { what: 'three pulls' })
  assert.equal(frees[0], 2, 'capacity 3 - one bridged call (two legs)')
  assert.ok(frees.slice(1).every((f) => f === 1), `then one more for the ringing originate, counted once: ${frees.join(',')}`)
})

test('a drain command from the heartbeat stops dialer pulls and resume starts them again', async (t) => {
  let command: 'drain' | 'resume' | null = null
  const { tier, agent } = await campaign(t, {
    heartbeat: () => { const c = command; command = null; return { commands: c ? [c] : [], manifestVersion: 0 } },
  }, {}, { heartbeatMs: 30 })
  const pulls = () => tier.calls.filter((c) => c.method === 'dialer.next').length
  await waitFor(() => pulls() >= 2, { what: 'pulls while running' })
  command = 'drain'
  await waitFor(() => agent.draining, { what: 'the drain command' })
  await sleep(60) // a pull in progress when the command came may still finish
  const atDrain = pulls()
  await sleep(200)
  assert.equal(pulls(), atDrain, 'no dialer.next while draining')
  const beat = tier.calls.filter((c) => c.method === 'instance.heartbeat').at(-1)!.params
  assert.equal(beat.capacity, 3)
  assert.equal(beat.instanceId, 'i-test')
  assert.equal(typeof beat.activeCalls, 'number')
  command = 'resume'
  await waitFor(() => pulls() > atDrain, { what: 'pulls after resume' })
})

test('a draining agent heartbeats at the drain interval, so an emptied instance is seen soon', async (t) => {
  let command: 'drain' | 'resume' | null = null
  const { tier, agent } = await campaign(t, {
    heartbeat: () => { const c = command; command = null; return { commands: c ? [c] : [], manifestVersion: 0 } },
  }, {}, { heartbeatMs: 400, drainHeartbeatMs: 40 })
  const beats = () => tier.calls.filter((c) => c.method === 'instance.heartbeat').length
  await waitFor(() => beats() >= 1, { what: 'the first heartbeat' })
  await sleep(500)
  const before = beats()
  assert.ok(before <= 3, `about one heartbeat per 400 ms before the drain, got ${before}`)
  command = 'drain'
  await waitFor(() => agent.draining, { what: 'the drain command', timeoutMs: 2000 })
  const atDrain = beats()
  await sleep(500)
  assert.ok(beats() - atDrain >= 5, `one per 40 ms while draining: ${beats() - atDrain} in 500 ms`)
  command = 'resume'
  await waitFor(() => !agent.draining, { what: 'the resume command', timeoutMs: 2000 })
})

test('a sync command calls the onSync hook, and /metrics serves the step histogram on loopback', async (t) => {
  const tier = await startTier({ heartbeat: () => ({ commands: ['sync'], manifestVersion: 7 }) })
  t.after(() => tier.close())
  const synced: number[] = []
  const agent = createAgent(testConfig({ servers: [tier.url], spoolDir: await tempDir(t), heartbeatMs: 30, metricsPort: 0 }), {
    hooks: { onSync: async (v) => { synced.push(v); await sleep(5) }, manifestVersion: () => 3, pendingUploads: () => 2, ready: () => false },
  })
  t.after(() => agent.close())
  await agent.start()
  await waitFor(() => synced.length >= 1, { what: 'onSync' })
  assert.equal(synced[0], 7)
  const beat = tier.calls.find((c) => c.method === 'instance.heartbeat')!.params
  assert.deepEqual({ m: beat.manifestVersion, p: beat.pendingUploads, r: beat.ready }, { m: 3, p: 2, r: false })
  const text = await agent.metrics.registry.metrics()
  assert.match(text, /federate_agent_tier_call_seconds_count\{method="instance.heartbeat",outcome="ok"\}/)
})

test('/metrics answers over HTTP when a port is configured', async (t) => {
  const tier = await startTier()
  t.after(() => tier.close())
  const { freePort } = await import('@federate/testkit')
  const port = await freePort()
  const agent = createAgent(testConfig({ servers: [tier.url], spoolDir: await tempDir(t), metricsPort: port }))
  t.after(() => agent.close())
  await agent.start()
  const res = await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)
  assert.equal(res.status, 200)
  assert.match(await res.text(), /federate_agent_step_seconds/)
  assert.equal((await fetch(`http://127.0.0.1:${agent.metricsPort}/other`)).status, 404)
})

test('close() lets a step in progress finish, then refuses new connections', async (t) => {
  const { agiCall } = await import('./helpers.ts')
  let called!: () => void
  const reached = new Promise<void>((resolve) => { called = resolve })
  const tier = await startTier({ step: async () => { called(); await sleep(100); return { action: 'wait', args: { seconds: 1 }, state: 's' } } })
  t.after(() => tier.close())
  const agent = createAgent(testConfig({ servers: [tier.url], spoolDir: await tempDir(t) }))
  await agent.start()
  const port = agent.agiPort
  const inflight = agiCall({ port, args: ['waited', 'c1'] })
  await reached
  const closing = agent.close()
  const r = await inflight
  assert.equal(r.vars.get('FED_ACTION'), 'wait', 'the step in progress completed')
  await closing
  await assert.rejects(agiCall({ port, args: ['waited', 'c1'] }), /ECONNREFUSED/)
})
