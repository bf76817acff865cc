import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from '@federate/testkit'
import { decodeMethodCall, encodeMethodResponse } from '@federate/xmlrpc'
import { createSimulation } from '../src/app.ts'

// The sim with the real agent (@federate/agent) in front of a scripted app tier: the agent
// must not be able to tell the simulated Asterisk from a real one.

type Handler = (params: Record<string, unknown>) => unknown

async function fakeTier (t: TestContext, methods: Record<string, Handler>) {
  const calls: Array<{ method: string, params: Record<string, unknown> }> = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const call = decodeMethodCall(Buffer.concat(chunks), { maxDepth: 64 })
      const params = (call.params[0] ?? {}) as Record<string, unknown>
      calls.push({ method: call.method, params })
      const h = methods[call.method]
      const body = encodeMethodResponse(h ? h(params) : { ok: true })
      res.writeHead(200, { 'content-type': 'text/xml' }).end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections() }))
  const addr = server.address()
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/RPC2`, calls }
}

const flow: Record<string, { action: string, args: Record<string, unknown> }> = {
  start: { action: 'play', args: { prompts: ['welcome'], escapeDigits: '' } },
  played: { action: 'gather', args: { prompts: ['camp/poll'], maxDigits: 1, timeoutSec: 5 } },
  digits: { action: 'record', args: { file: 'answer-1', format: 'wav', maxSec: 20, silenceSec: 2, beep: true } },
  recorded: { action: 'hangup', args: { cause: 16 } },
}

test('the real agent runs inbound and campaign calls through the simulated instance', async (t) => {
  const workDir = await mkdtemp(join(tmpdir(), 'fedsim-e2e-'))
  t.after(() => rm(workDir, { recursive: true, force: true }))
  let leased = false
  const tier = await fakeTier(t, {
    'call.step': (p) => ({ ...flow[p.event as string] ?? flow.recorded!, state: `st-${String(p.event)}` }),
    'call.end': () => ({ ok: true }),
    'instance.heartbeat': () => ({ commands: [], manifestVersion: 0 }),
    'dialer.next': (p) => {
      if (leased || p.instanceId !== 'e2e-1') return []
      leased = true
      return [{ callId: 'camp-call-1', to: '+15551234567', from: '+15550000000', campaignId: 'camp-1', flowRef: 'poll@1', vars: { name: 'Ada' } }]
    },
  })
  const sim = createSimulation({
    instances: 2,
    capacity: 10,
    speed: 20,
    seed: 5,
    idPrefix: 'e2e-',
    workDir,
    servers: [tier.url],
    token: 'test-token',
    checkPrompts: false,
    profile: {
      outcomes: { answer: 1, busy: 0, noanswer: 0, congestion: 0, unavailable: 0 },
      machineRate: 0,
      hangup: { rate: 0 },
      gather: { noInputRate: 0, byPrompt: { 'camp/poll': { 1: 1 } } },
    },
    agentSettings: { heartbeatMs: 200, dialerIntervalMs: 50 },
  })
  t.after(() => sim.stop({ graceMs: 0 }))
  await sim.start()
  assert.equal(sim.fleet.instances[1]!.placeInbound({ number: '+15557770000', callerId: '+15550001111' }), true)
  await waitFor(() => tier.calls.filter((c) => c.method === 'call.end').length === 2, { timeoutMs: 15000, what: 'both calls to end' })

  const steps = tier.calls.filter((c) => c.method === 'call.step')
  const campaign = steps.filter((c) => c.params.callId === 'camp-call-1')
  assert.deepEqual(campaign.map((c) => c.params.event), ['start', 'played', 'digits', 'recorded'])
  assert.equal((campaign[0]!.params.channel as Record<string, string>).fed_campaign, 'camp-1')
  assert.deepEqual({ ...campaign[2]!.params.data as object }, { digits: '1', status: 'ok' })
  assert.equal(campaign[1]!.params.state, 'st-start')
  const inbound = steps.filter((c) => c.params.instanceId === 'e2e-2')
  assert.equal(inbound[0]!.params.event, 'start')
  assert.equal((inbound[0]!.params.channel as Record<string, string>).dnid, '+15557770000')
  assert.equal((inbound[3]!.params.data as Record<string, unknown>).file, 'answer-1')
  const ends = tier.calls.filter((c) => c.method === 'call.end')
  assert.ok(ends.every((e) => e.params.cause === '16'))
  assert.ok(ends.some((e) => e.params.callId === 'camp-call-1' && e.params.state === 'st-recorded'))
  assert.deepEqual(await readdir(join(workDir, 'e2e-1', 'recordings')), ['answer-1.wav'])
  const st = sim.fleet.stats()
  assert.equal(st.agiErrors, 0)
  assert.equal(st.sorry, 0)
  assert.equal(st.originate.answer, 1)
  assert.equal(st.ended.hangup, 2)
  assert.ok(tier.calls.some((c) => c.method === 'instance.heartbeat'))
})
