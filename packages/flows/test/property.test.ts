/* eslint-disable no-template-curly-in-string -- flows use ${name} placeholders in plain strings */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AMD_STATUSES, DIAL_STATUSES, type CallEvent } from '@federate/protocol'
import fc from 'fast-check'
import { openState, resumeHttp, sealState, step, validateFlow, type Flow, type FlowState, type HttpOutcome } from '../src/index.ts'
import { assertProtocolValid, example } from './helpers.ts'

// Random call events (all well-formed by the protocol) and web hook outcomes.
const digitString = fc.string({ unit: fc.constantFrom(...'0123456789*#'), maxLength: 6 })
const event: fc.Arbitrary<CallEvent> = fc.oneof(
  fc.constant<CallEvent>({ event: 'start', data: {} }),
  fc.option(fc.constantFrom(...'0123456789*#'), { nil: undefined }).map((digit): CallEvent => ({ event: 'played', data: digit === undefined ? {} : { digit } })),
  fc.record({ digits: digitString, status: fc.constantFrom('ok' as const, 'timeout' as const) }).map((data): CallEvent => ({ event: 'digits', data })),
  fc.constantFrom(...DIAL_STATUSES).map((status): CallEvent => ({ event: 'dialed', data: { status } })),
  fc.record({ file: fc.stringMatching(/^[a-z0-9-]{1,20}$/), durationSec: fc.nat(600) }).map((data): CallEvent => ({ event: 'recorded', data })),
  fc.constantFrom(...AMD_STATUSES).map((status): CallEvent => ({ event: 'amd', data: { status } })),
  fc.constant<CallEvent>({ event: 'waited', data: {} }),
  fc.string({ maxLength: 20 }).map((message): CallEvent => ({ event: 'error', data: { message } }))
)
// Mostly the event the current node waits for (so calls get deep into the flow), sometimes any.
const move = fc.record({
  fit: fc.integer({ min: 0, max: 9 }).map((n) => n < 8),
  digit: fc.option(fc.constantFrom(...'0123456789*#'), { nil: undefined }),
  digits: fc.oneof(digitString, fc.constantFrom('1', '2', '3', '9', '')),
  dial: fc.constantFrom(...DIAL_STATUSES),
  amd: fc.constantFrom(...AMD_STATUSES),
  any: event,
})
type Move = typeof move extends fc.Arbitrary<infer T> ? T : never

function eventFor (flow: Flow, state: FlowState | undefined, m: Move): CallEvent {
  if (!m.fit || state === undefined || state.done !== undefined) return state === undefined && m.fit ? { event: 'start', data: {} } : m.any
  switch (flow.nodes[state.node]?.type) {
    case 'play': return { event: 'played', data: m.digit === undefined ? {} : { digit: m.digit } }
    case 'gather': case 'menu': return { event: 'digits', data: { digits: m.digits, status: m.digits === '' ? 'timeout' : 'ok' } }
    case 'dial': return { event: 'dialed', data: { status: m.dial } }
    case 'record': return { event: 'recorded', data: { file: 'f', durationSec: 3 } }
    case 'amd': return { event: 'amd', data: { status: m.amd } }
    case 'wait': return { event: 'waited', data: {} }
    default: return m.any
  }
}

const outcome: fc.Arbitrary<HttpOutcome> = fc.oneof(
  fc.record({ status: fc.constantFrom(200, 201, 204, 302, 404, 500), body: fc.oneof(fc.json({ maxDepth: 2 }), fc.string({ maxLength: 40 })) }),
  fc.record({ error: fc.string({ maxLength: 20 }), timeout: fc.boolean() })
)

// A flow with every node type, including web hooks, conditions and a goto.
const everything = validateFlow({
  format: 'federate.flow/1',
  name: 'everything',
  start: 'detect',
  nodes: {
    detect: { type: 'amd', branches: { MACHINE: 'bye' }, next: 'hook' },
    hook: { type: 'http', url: 'https://crm.example.com/c?n=${callerid}', saveAs: 'crm', next: 'route', onError: 'menu' },
    route: { type: 'condition', when: [{ var: 'crm_tier', op: 'in', value: ['gold', 'vip'], next: 'agent' }, { var: 'crm_score', op: 'gt', value: 5, next: 'menu' }], else: 'menu' },
    menu: { type: 'menu', prompts: ['m/${language}'], branches: { 1: 'agent', 2: 'rec', 3: 'pause', 9: 'local' }, next: 'note', validDigits: '[0-9]{1,3}', retries: 1, invalid: 'bye', saveAs: 'choice' },
    note: { type: 'set', vars: { last: '${choice}', lang: 'en' }, next: 'post' },
    post: { type: 'http', url: 'https://crm.example.com/n', method: 'POST', next: 'menu' },
    agent: { type: 'dial', to: 'PJSIP/${choice}@pbx', branches: { ANSWER: 'bye' }, next: 'rec' },
    rec: { type: 'record', saveAs: 'vm', next: 'pause' },
    pause: { type: 'wait', seconds: 0.5, next: 'info' },
    info: { type: 'play', prompts: ['info'], digits: { 1: 'menu' }, next: 'bye' },
    local: { type: 'goto', context: 'from-federate', extension: 'x${choice}' },
    bye: { type: 'hangup' },
  },
})
assert.ok(everything.ok, everything.ok ? '' : JSON.stringify(everything.errors))

const flows: Array<[string, Flow]> = [
  ['ivr', (validateFlow(example('ivr')) as { flow: Flow }).flow],
  ['poll', (validateFlow(example('poll')) as { flow: Flow }).flow],
  ['everything', everything.flow],
]
const keyring = { current: 'k', keys: { k: 'property-secret-0123456789' } }

for (const [name, flow] of flows) {
  test(`random events against the ${name} flow never throw and always answer a protocol-valid action`, () => {
    fc.assert(fc.property(
      fc.array(move, { minLength: 1, maxLength: 25 }),
      fc.array(outcome, { minLength: 8, maxLength: 8 }),
      (moves, outcomes) => {
        let state: FlowState | undefined
        const ctx = { callId: 'c', channel: { callerid: '+15550001', language: 'en' } }
        let hooks = 0
        for (const m of moves) {
          const e = eventFor(flow, state, m)
          let r = step(flow, state, e, ctx)
          while (r.kind === 'http') {
            assertProtocolValid(r)
            r = resumeHttp(flow, r.state, outcomes[hooks++ % outcomes.length]!, ctx)
          }
          assertProtocolValid(r)
          // Every state the dialplan receives fits in a token and comes back unchanged.
          const now = 1_800_000_000_000
          assert.deepEqual(openState(sealState(r.state, keyring, now), keyring, now), r.state)
          if (state?.done !== undefined) assert.equal(r.action, 'hangup')
          state = r.state
          reached.add(`${name}:${r.action}:${r.results.map((x) => x.type).join(',')}`)
        }
      }
    ), { numRuns: 250 })
  })
}

const reached = new Set<string>()

test('the random calls reach every action of the everything flow, not only the error fallback', () => {
  for (const a of ['amd', 'gather', 'dial', 'record', 'wait', 'play', 'goto', 'hangup']) {
    assert.ok([...reached].some((k) => k.startsWith(`everything:${a}:`)), `${a} never reached: ${[...reached].join(' ')}`)
  }
  for (const t of ['gather', 'record', 'dial', 'amd', 'http']) {
    assert.ok([...reached].some((k) => k.startsWith('everything:') && k.split(':')[2]!.includes(t)), `no ${t} result`)
  }
})
