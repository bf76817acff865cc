import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { waitFor } from '@federate/testkit'
import { createAgent } from '../src/app.ts'
import { agiCall, refusedUrl, startTier, tempDir, testConfig, type TierImpl } from './helpers.ts'

async function setup (t: import('node:test').TestContext, impl: TierImpl = {}, config: Record<string, unknown> = {}) {
  const tier = await startTier(impl)
  t.after(() => tier.close())
  const spoolDir = await tempDir(t)
  const agent = createAgent(testConfig({ servers: [tier.url], spoolDir, ...config }))
  t.after(() => agent.close())
  await agent.start()
  return { tier, agent, port: agent.agiPort }
}

const names = (commands: string[]) => commands.map((c) => c.split(' ').slice(0, 3).join(' '))

test('a step reads the state, asks the tier and sets the action variables with FED_ACTION last', async (t) => {
  const state = 'v1."quoted"\\back\\slash'
  const { tier, port } = await setup(t, {
    step: () => ({ action: 'gather', args: { prompts: ['menu/main', 'asterisk:beep'], maxDigits: 4, timeoutSec: 5.5 }, state, vars: { lang: 'en' } }),
  })
  const r = await agiCall({ port, args: ['start', '', '', '', ''] })
  assert.equal(r.closed, true)
  assert.deepEqual(names(r.commands), [
    'GET VARIABLE FED_STATE',
    'SET VARIABLE FED_CALLID', 'SET VARIABLE FED_STATE', 'SET VARIABLE FED_VAR_lang',
    'SET VARIABLE FED_PROMPTS', 'SET VARIABLE FED_GATHER_MAX', 'SET VARIABLE FED_GATHER_TIMEOUT', 'SET VARIABLE FED_ACTION',
  ])
  // Quotes and backslashes survive res_agi's argument parsing.
  assert.equal(r.vars.get('FED_STATE'), state)
  assert.equal(r.vars.get('FED_PROMPTS'), '/snd/menu/main&beep')
  assert.equal(r.vars.get('FED_GATHER_MAX'), '4')
  assert.equal(r.vars.get('FED_GATHER_TIMEOUT'), '5.5')
  assert.equal(r.vars.get('FED_VAR_lang'), 'en')
  assert.equal(r.vars.get('FED_ACTION'), 'gather')
  const callId = r.vars.get('FED_CALLID')!
  assert.match(callId, /^[0-9a-f-]{36}$/)
  const step = tier.calls.find((c) => c.method === 'call.step')!.params
  assert.equal(step.callId, callId)
  assert.equal(step.instanceId, 'i-test')
  assert.equal(step.event, 'start')
  assert.equal(step.state, undefined, 'no state on the first step (200 result=0)')
  assert.equal(step.channel.dnid, '+15552223333')
  assert.equal(step.channel.arg_1, undefined)
  assert.equal(step.channel.network_script, undefined)
})

test('a later step sends the state and the outcome of the last action', async (t) => {
  const { tier, port } = await setup(t, {
    step: () => ({ action: 'dial', args: { to: 'PJSIP/100@office', timeoutSec: 20 }, state: 'next' }),
  })
  const vars = new Map([['FED_STATE', 'prev (with) parens']])
  const r = await agiCall({ port, args: ['digits', 'call-7', '12a', 'TIMEOUT', ''], vars })
  const step = tier.calls.filter((c) => c.method === 'call.step')[0]!.params
  assert.equal(step.callId, 'call-7')
  assert.equal(step.state, 'prev (with) parens', 'the value is what lies between the first ( and the last )')
  assert.equal(step.event, 'error', 'a letter in gathered digits is reported as an error event')
  const ok = await agiCall({ port, args: ['digits', 'call-7', '12', 'TIMEOUT', ''], vars })
  assert.deepEqual(tier.calls.filter((c) => c.method === 'call.step')[1]!.params.data, { digits: '12', status: 'timeout' })
  assert.equal(ok.vars.get('FED_CALLID'), undefined, 'a known call id is not set again')
  assert.equal(ok.vars.get('FED_DIAL_TO'), 'PJSIP/100@office')
  assert.equal(ok.vars.get('FED_DIAL_CALLERID'), '')
  assert.equal(r.vars.get('FED_ACTION'), 'dial')
})

test('a HANGUP line before the state is read stops the step before the tier is asked', async (t) => {
  const { tier, port } = await setup(t)
  const r = await agiCall({
    port,
    args: ['played', 'c1'],
    intercept: (i) => i === 0 ? 'HANGUP\n200 result=1 (tok)\n' : undefined,
  })
  assert.equal(r.closed, true)
  assert.deepEqual(names(r.commands), ['GET VARIABLE FED_STATE'])
  assert.equal(tier.calls.filter((c) => c.method === 'call.step').length, 0)
})

test('a HANGUP while the tier answers means no variable is set', async (t) => {
  let called!: () => void
  const tierCalled = new Promise<void>((resolve) => { called = resolve })
  const { tier, port } = await setup(t, {
    step: async () => {
      called()
      await sleep(100)
      return { action: 'wait', args: { seconds: 1 }, state: 's' }
    },
  })
  const r = await agiCall({ port, args: ['waited', 'c3'], hangupWhen: tierCalled })
  assert.equal(tier.calls.filter((c) => c.method === 'call.step').length, 1)
  assert.deepEqual(names(r.commands), ['GET VARIABLE FED_STATE'])
  assert.equal(r.vars.get('FED_ACTION'), undefined)
  // The same step without the hangup sets its action: the test can fail.
  const ok = await agiCall({ port, args: ['waited', 'c3'] })
  assert.equal(ok.vars.get('FED_ACTION'), 'wait')
})

test('511 on a dead channel stops the step at the first refused command', async (t) => {
  const { port } = await setup(t, { step: () => ({ action: 'hangup', args: { cause: 16 }, state: 's' }) })
  const r = await agiCall({ port, args: ['played', 'c4'], dead: true })
  assert.equal(r.closed, true)
  assert.deepEqual(names(r.commands), ['GET VARIABLE FED_STATE', 'SET VARIABLE FED_STATE'])
})

test('a multi-line 520 answer or a 510 fails the step cleanly and sets nothing', async (t) => {
  const { tier, port } = await setup(t)
  const r = await agiCall({
    port,
    args: ['played', 'c5'],
    intercept: (i) => i === 0 ? '520-Invalid command syntax.  Proper usage follows:\nUsage: GET VARIABLE <variablename>\n  Returns 0 if not set.\n520 End of proper usage.\n' : undefined,
  })
  assert.equal(r.closed, true)
  assert.equal(r.commands.length, 1)
  assert.equal(tier.calls.filter((c) => c.method === 'call.step').length, 0)
  const r2 = await agiCall({ port, args: ['played', 'c5'], intercept: (i) => i === 0 ? '510 Invalid or unknown command\n' : undefined })
  assert.equal(r2.closed, true)
  assert.equal(r2.vars.size, 0)
})

test('when no app server answers, nothing is set and the dialplan takes the sorry path', async (t) => {
  const spoolDir = await tempDir(t)
  const agent = createAgent(testConfig({ servers: [await refusedUrl(), await refusedUrl()], spoolDir }))
  t.after(() => agent.close())
  await agent.start()
  const started = Date.now()
  const r = await agiCall({ port: agent.agiPort, args: ['start', ''] })
  assert.equal(r.closed, true)
  assert.equal(r.vars.get('FED_ACTION'), undefined)
  assert.equal(r.vars.get('FED_CALLID'), undefined)
  assert.ok(Date.now() - started < 1500, 'refused connections fail fast')
})

test('an answer the dialplan cannot use (a prompt outside the sounds folder) sets nothing', async (t) => {
  const { port } = await setup(t, { step: () => ({ action: 'play', args: { prompts: ['../../etc/passwd'], escapeDigits: '' }, state: 's' }) })
  const r = await agiCall({ port, args: ['played', 'c6'] })
  assert.equal(r.vars.get('FED_ACTION'), undefined)
})

test('a draining agent turns new calls away with cause 34 without asking the tier, but steps live ones', async (t) => {
  const { tier, agent, port } = await setup(t, { step: () => ({ action: 'wait', args: { seconds: 2 }, state: 's' }) })
  agent.drain()
  const r = await agiCall({ port, args: ['start', ''] })
  assert.equal(r.vars.get('FED_ACTION'), 'hangup')
  assert.equal(r.vars.get('FED_HANGUP_CAUSE'), '34')
  assert.equal(tier.calls.filter((c) => c.method === 'call.step').length, 0)
  const live = await agiCall({ port, args: ['waited', 'c9'] })
  assert.equal(live.vars.get('FED_ACTION'), 'wait')
  assert.equal(live.vars.get('FED_WAIT_SEC'), '2')
})

test('the hangup handler request reports call.end with the cause and durations', async (t) => {
  const { tier, port } = await setup(t)
  const r = await agiCall({ port, script: 'end', args: ['c10', '17', '42', '30', '44'], vars: new Map([['FED_STATE', 'st']]) })
  assert.equal(r.closed, true)
  await waitFor(() => tier.calls.some((c) => c.method === 'call.end'), { what: 'call.end' })
  assert.deepEqual(tier.calls.find((c) => c.method === 'call.end')!.params, { callId: 'c10', instanceId: 'i-test', cause: '17', durationSec: 42, billSec: 30, state: 'st' })
  // CDRs disabled: the elapsed time stands in; no call id: nothing is reported.
  await agiCall({ port, script: 'end', args: ['c11', '16', '', '', '9'] })
  await waitFor(() => tier.calls.filter((c) => c.method === 'call.end').length === 2, { what: 'second call.end' })
  assert.equal(tier.calls.at(-1)!.params.durationSec, 9)
  assert.equal(tier.calls.at(-1)!.params.billSec, 9)
  await agiCall({ port, script: 'end', args: ['', '16'] })
  await sleep(50)
  assert.equal(tier.calls.filter((c) => c.method === 'call.end').length, 2)
})
