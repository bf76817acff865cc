/* eslint-disable no-template-curly-in-string -- flows use ${name} placeholders in plain strings */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { CallEvent } from '@federate/protocol'
import { openState, promptsOf, sealState, step, validateFlow, type Flow, type FlowResult, type StepResult } from '../src/index.ts'
import { act, amd, assertProtocolValid, dialed, digits, example, played, recorded, start } from './helpers.ts'

const keyring = { current: 'k', keys: { k: 'example-secret-0123456789' } }

function load (name: string): Flow {
  const v = validateFlow(example(name))
  assert.ok(v.ok, v.ok ? '' : JSON.stringify(v.errors))
  assert.deepEqual(v.warnings, [])
  return v.flow
}

// Runs a call the way the server does: the state goes through a sealed token between steps.
function call (flow: Flow, events: CallEvent[]): { steps: StepResult[], results: FlowResult[] } {
  let token: string | undefined
  const steps: StepResult[] = []
  let now = Date.UTC(2026, 0, 1)
  for (const event of events) {
    const state = token === undefined ? undefined : openState(token, keyring, now)
    const r = step(flow, state, event, { callId: 'call-1', channel: { callerid: '+15550001', extension: '100' } })
    assertProtocolValid(r)
    steps.push(r)
    token = sealState(r.state, keyring, now)
    now += 5000
  }
  return { steps, results: steps.flatMap((s) => s.results) }
}

const actions = (steps: StepResult[]) => steps.map((s) => s.kind === 'action' ? s.action : 'http')

test('both example flows validate without warnings and list their prompts', () => {
  assert.deepEqual(promptsOf(load('ivr')), [
    'ivr/goodbye', 'ivr/hours', 'ivr/invalid', 'ivr/leave-message', 'ivr/menu', 'ivr/no-input', 'ivr/sales-busy', 'ivr/thanks', 'ivr/welcome',
  ])
  assert.deepEqual(promptsOf(load('poll')), ['poll/goodbye', 'poll/intro', 'poll/invalid', 'poll/machine', 'poll/no-input', 'poll/question', 'poll/thanks'])
})

test('promptsOf leaves templated prompt names out', () => {
  const v = validateFlow({ format: 'federate.flow/1', name: 't', start: 'p', nodes: { p: { type: 'play', prompts: ['a', '${lang}/b', 'a'] } } })
  assert.ok(v.ok)
  assert.deepEqual(promptsOf(v.flow), ['a'])
})

test('ivr: 1 dials sales, and an answered call ends the flow', () => {
  const { steps, results } = call(load('ivr'), [start, played(), digits('1'), dialed('ANSWER', 30)])
  assert.deepEqual(actions(steps), ['play', 'gather', 'dial', 'hangup'])
  assert.deepEqual(act(steps[2]!), { action: 'dial', args: { to: 'PJSIP/sales', timeoutSec: 25 } })
  assert.deepEqual(results.map((r) => [r.key, r.value]), [['choice', '1'], ['sales_dial', 'ANSWER']])
  assert.equal(steps.at(-1)!.state.done, 'hangup')
})

test('ivr: a digit during the welcome skips the menu; busy sales falls back to voicemail', () => {
  const { steps, results } = call(load('ivr'), [start, played('1'), dialed('BUSY'), played(), played(), recorded('voicemail-call-1-voicemail-5.wav', 8), played()])
  assert.deepEqual(actions(steps), ['play', 'dial', 'play', 'play', 'record', 'play', 'hangup'])
  assert.deepEqual(act(steps[4]!), { action: 'record', args: { file: 'voicemail-call-1-voicemail-5', format: 'wav', maxSec: 120, silenceSec: 5, beep: true } })
  assert.deepEqual(results.map((r) => [r.type, r.key, r.value]), [['dial', 'sales_dial', 'BUSY'], ['record', 'voicemail', 'voicemail-call-1-voicemail-5.wav']])
})

test('ivr: 2 leaves a voicemail', () => {
  const { steps, results } = call(load('ivr'), [start, played(), digits('2'), played(), recorded('vm.wav', 20), played()])
  assert.deepEqual(actions(steps), ['play', 'gather', 'play', 'record', 'play', 'hangup'])
  assert.deepEqual(results.map((r) => r.type), ['gather', 'record'])
})

test('ivr: 3 plays the hours and returns to the menu; silence ends with goodbye after the retries', () => {
  const { steps } = call(load('ivr'), [start, played(), digits('3'), played(), digits(''), digits(''), digits(''), played()])
  assert.deepEqual(actions(steps), ['play', 'gather', 'play', 'gather', 'gather', 'gather', 'play', 'hangup'])
  assert.deepEqual(act(steps[4]!), { action: 'gather', args: { prompts: ['ivr/no-input', 'ivr/menu'], maxDigits: 1, timeoutSec: 5 } })
  assert.deepEqual(act(steps[6]!), { action: 'play', args: { prompts: ['ivr/goodbye'], escapeDigits: '' } })
})

test('ivr: wrong keys re-prompt with the invalid prompt, then say goodbye', () => {
  const { steps } = call(load('ivr'), [start, played(), digits('9'), digits('0'), digits('7'), played()])
  assert.deepEqual(act(steps[2]!), { action: 'gather', args: { prompts: ['ivr/invalid', 'ivr/menu'], maxDigits: 1, timeoutSec: 5 } })
  assert.deepEqual(actions(steps), ['play', 'gather', 'gather', 'gather', 'play', 'hangup'])
})

test('poll: a person votes 2, hears thanks, and the vote is a result', () => {
  const { steps, results } = call(load('poll'), [start, amd('HUMAN'), digits('2'), played()])
  assert.deepEqual(actions(steps), ['amd', 'gather', 'play', 'hangup'])
  assert.deepEqual(act(steps[1]!), { action: 'gather', args: { prompts: ['poll/intro', 'poll/question'], maxDigits: 1, timeoutSec: 6 } })
  assert.deepEqual(act(steps[2]!), { action: 'play', args: { prompts: ['poll/thanks'], escapeDigits: '' } })
  assert.deepEqual(results, [
    { node: 'detect', key: 'detect', value: 'HUMAN', type: 'amd' },
    { node: 'vote', key: 'vote', value: '2', type: 'gather' },
  ])
})

test('poll: an answering machine gets the short message and the call hangs up', () => {
  const { steps, results } = call(load('poll'), [start, amd('MACHINE'), played()])
  assert.deepEqual(actions(steps), ['amd', 'play', 'hangup'])
  assert.deepEqual(act(steps[1]!), { action: 'play', args: { prompts: ['poll/machine'], escapeDigits: '' } })
  assert.deepEqual(results.map((r) => r.value), ['MACHINE'])
})

test('poll: not sure is treated as a person; 3 is not a choice', () => {
  const { steps, results } = call(load('poll'), [start, amd('NOTSURE'), digits('3'), digits('1'), played()])
  assert.deepEqual(actions(steps), ['amd', 'gather', 'gather', 'play', 'hangup'])
  assert.deepEqual(act(steps[2]!), { action: 'gather', args: { prompts: ['poll/invalid', 'poll/intro', 'poll/question'], maxDigits: 1, timeoutSec: 6 } })
  assert.deepEqual(results.map((r) => r.value), ['NOTSURE', '1'])
})
