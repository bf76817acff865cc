/* eslint-disable no-template-curly-in-string -- flows use ${name} placeholders in plain strings */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CAUSE_ERROR, CAUSE_NORMAL, step, type FlowState } from '../src/index.ts'
import { act, amd, assertProtocolValid, Call, dialed, digits, failed, flowOf, played, recorded, start, waited } from './helpers.ts'

const hangupNode = { type: 'hangup' }

test('start begins at flow.start with the channel and campaign variables', () => {
  const flow = flowOf({ hello: { type: 'play', prompts: ['hello/${extension}'], next: 'end' }, end: hangupNode })
  const call = new Call(flow, { callId: 'c1', channel: { callerid: '+15550001', extension: 'sales', dnid: '100', unknown_field: 'x' }, vars: { name: 'Ann' } })
  const r = call.send(start)
  assert.deepEqual(act(r), { action: 'play', args: { prompts: ['hello/sales'], escapeDigits: '' } })
  assert.deepEqual(r.state.vars, { callerid: '+15550001', extension: 'sales', dnid: '100', name: 'Ann' })
  assert.equal(r.state.node, 'hello')
  assert.equal(r.state.call, 'c1')
  assert.equal(r.state.steps, 1)
  assert.equal(r.done, false)
})

test('the state passed in is never modified (a token may be replayed)', () => {
  const flow = flowOf({ a: { type: 'set', vars: { x: '1' }, next: 'p' }, p: { type: 'play', prompts: ['p'], next: 'q' }, q: { type: 'set', vars: { y: '2' }, next: 'w' }, w: { type: 'wait' } })
  const first = step(flow, undefined, start)
  const frozen = structuredClone(first.state)
  const second = step(flow, first.state, played())
  assert.deepEqual(first.state, frozen)
  assert.equal(second.state.vars.y, '2')
})

test('play is not interruptible by default and goes to next when played', () => {
  const call = new Call(flowOf({ p: { type: 'play', prompts: ['a', 'b'], next: 'w' }, w: { type: 'wait', seconds: 2 } }))
  assert.deepEqual(act(call.send(start)), { action: 'play', args: { prompts: ['a', 'b'], escapeDigits: '' } })
  assert.deepEqual(act(call.send(played())), { action: 'wait', args: { seconds: 2 } })
})

test('an interruptible play listens to every key; explicit escapeDigits wins', () => {
  const any = new Call(flowOf({ p: { type: 'play', prompts: ['a'], interruptible: true } }))
  assert.deepEqual(act(any.send(start)), { action: 'play', args: { prompts: ['a'], escapeDigits: '0123456789*#' } })
  const some = new Call(flowOf({ p: { type: 'play', prompts: ['a'], interruptible: true, escapeDigits: '12' } }))
  assert.deepEqual(act(some.send(start)), { action: 'play', args: { prompts: ['a'], escapeDigits: '12' } })
})

test('a play with digits branches on the pressed digit, and other digits go to next', () => {
  const flow = flowOf({
    p: { type: 'play', prompts: ['a'], digits: { 1: 'one', 2: 'two' }, next: 'other' },
    one: { type: 'wait', seconds: 1 },
    two: { type: 'wait', seconds: 2 },
    other: { type: 'wait', seconds: 3 },
  })
  const call = new Call(flow)
  assert.deepEqual(act(call.send(start)), { action: 'play', args: { prompts: ['a'], escapeDigits: '12' } })
  assert.deepEqual(act(call.send(played('2'))), { action: 'wait', args: { seconds: 2 } })
  const c2 = new Call(flow)
  c2.send(start)
  assert.deepEqual(act(c2.send(played('1'))), { action: 'wait', args: { seconds: 1 } })
  const c3 = new Call(flow)
  c3.send(start)
  assert.deepEqual(act(c3.send(played())), { action: 'wait', args: { seconds: 3 } })
})

test('a node without next ends the call with a normal hangup', () => {
  const call = new Call(flowOf({ p: { type: 'play', prompts: ['a'] } }))
  call.send(start)
  const r = call.send(played())
  assert.deepEqual(act(r), { action: 'hangup', args: { cause: CAUSE_NORMAL } })
  assert.equal(r.done, true)
  assert.equal(r.state.done, 'hangup')
  assert.deepEqual(r.results, [])
})

const menu = {
  type: 'menu',
  prompts: ['menu/main'],
  branches: { 1: 'one', 2: 'two' },
  noInput: 'nobody',
  invalid: 'wrong',
  noInputPrompt: 'menu/no-input',
  invalidPrompt: 'menu/invalid',
  saveAs: 'choice',
}
const menuFlow = () => flowOf({
  m: menu,
  one: { type: 'wait', seconds: 1 },
  two: { type: 'wait', seconds: 2 },
  nobody: { type: 'hangup', cause: 19 },
  wrong: { type: 'hangup', cause: 21 },
})

test('a menu asks with defaults: one digit (longest branch), 5 s timeout', () => {
  const call = new Call(menuFlow())
  assert.deepEqual(act(call.send(start)), { action: 'gather', args: { prompts: ['menu/main'], maxDigits: 1, timeoutSec: 5 } })
})

test('a menu choice follows its branch and is saved as a variable and a result', () => {
  const call = new Call(menuFlow())
  call.send(start)
  const r = call.send(digits('2'))
  assert.deepEqual(act(r), { action: 'wait', args: { seconds: 2 } })
  assert.equal(r.state.vars.choice, '2')
  assert.deepEqual(r.results, [{ node: 'm', key: 'choice', value: '2', type: 'gather' }])
})

test('no input re-prompts with the no-input prompt `retries` times, then goes to noInput', () => {
  const call = new Call(menuFlow())
  call.send(start)
  for (let i = 1; i <= 2; i++) {
    const r = call.send(digits(''))
    assert.deepEqual(act(r), { action: 'gather', args: { prompts: ['menu/no-input', 'menu/main'], maxDigits: 1, timeoutSec: 5 } })
    assert.equal(r.state.retries, i)
  }
  assert.deepEqual(act(call.send(digits(''))), { action: 'hangup', args: { cause: 19 } })
  assert.deepEqual(call.results, [])
})

test('invalid input re-prompts with the invalid prompt, then goes to invalid', () => {
  const call = new Call(menuFlow())
  call.send(start)
  assert.deepEqual(act(call.send(digits('9'))), { action: 'gather', args: { prompts: ['menu/invalid', 'menu/main'], maxDigits: 1, timeoutSec: 5 } })
  assert.deepEqual(act(call.send(digits('7'))), { action: 'gather', args: { prompts: ['menu/invalid', 'menu/main'], maxDigits: 1, timeoutSec: 5 } })
  assert.deepEqual(act(call.send(digits('*'))), { action: 'hangup', args: { cause: 21 } })
})

test('no input and invalid input share one retry budget, and a good answer after a retry counts', () => {
  const call = new Call(menuFlow())
  call.send(start)
  call.send(digits(''))
  call.send(digits('5'))
  assert.deepEqual(act(call.send(digits('1'))), { action: 'wait', args: { seconds: 1 } })
  assert.deepEqual(call.results.map((r) => r.value), ['1'])
})

test('retries 0 goes straight to the branch; a missing prompt re-asks with the prompts alone', () => {
  const flow = flowOf({ g: { type: 'gather', prompts: ['q'], branches: { 1: 'w' }, retries: 0, invalid: 'bad' }, w: { type: 'wait' }, bad: { type: 'hangup', cause: 1 } })
  const call = new Call(flow)
  call.send(start)
  assert.deepEqual(act(call.send(digits(''))), { action: 'hangup', args: { cause: 1 } }, 'noInput falls back to invalid')
  const again = new Call(flowOf({ g: { type: 'gather', prompts: ['q'], branches: { 1: 'w' } }, w: { type: 'wait' } }))
  again.send(start)
  assert.deepEqual(act(again.send(digits('8'))), { action: 'gather', args: { prompts: ['q'], maxDigits: 1, timeoutSec: 5 } })
  again.send(digits('8'))
  assert.deepEqual(act(again.send(digits('8'))), { action: 'hangup', args: { cause: CAUSE_NORMAL } }, 'no invalid nor noInput: the call ends')
})

test('free input goes to next, up to 20 digits by default, with a validDigits regex', () => {
  const flow = flowOf({
    g: { type: 'gather', prompts: ['pin'], validDigits: '[0-9]{4}', next: 'ok', invalid: 'bad', retries: 0, saveAs: 'pin' },
    ok: { type: 'play', prompts: ['ok'] },
    bad: { type: 'play', prompts: ['bad'] },
  })
  const call = new Call(flow)
  assert.deepEqual(act(call.send(start)), { action: 'gather', args: { prompts: ['pin'], maxDigits: 20, timeoutSec: 5 } })
  assert.deepEqual(act(call.send(digits('1234'))), { action: 'play', args: { prompts: ['ok'], escapeDigits: '' } })
  assert.equal(call.state!.vars.pin, '1234')
  const short = new Call(flow)
  short.send(start)
  assert.deepEqual(act(short.send(digits('123'))), { action: 'play', args: { prompts: ['bad'], escapeDigits: '' } }, 'the regex must match the whole input')
})

test('validDigits as a list accepts only those choices; branches take precedence over next', () => {
  const flow = flowOf({
    g: { type: 'gather', prompts: ['q'], validDigits: ['10', '20', '30'], branches: { 10: 'ten' }, next: 'other', retries: 0, invalid: 'bad' },
    ten: { type: 'wait', seconds: 10 },
    other: { type: 'wait', seconds: 1 },
    bad: { type: 'hangup', cause: 2 },
  })
  const go = (d: string) => { const c = new Call(flow); c.send(start); return act(c.send(digits(d))) }
  assert.deepEqual(go('10'), { action: 'wait', args: { seconds: 10 } })
  assert.deepEqual(go('20'), { action: 'wait', args: { seconds: 1 } })
  assert.deepEqual(go('40'), { action: 'hangup', args: { cause: 2 } })
})

test('the finish key ends the input: a trailing * is cut when finishKey is *', () => {
  const flow = flowOf({ g: { type: 'gather', prompts: ['q'], finishKey: '*', next: 'w', saveAs: 'n' }, w: { type: 'wait' } })
  const call = new Call(flow)
  call.send(start)
  call.send(digits('42*9'))
  assert.equal(call.state!.vars.n, '42')
  const hash = new Call(flowOf({ g: { type: 'gather', prompts: ['q'], next: 'w', saveAs: 'n' }, w: { type: 'wait' } }))
  hash.send(start)
  hash.send(digits('7#'))
  assert.equal(hash.state!.vars.n, '7')
  const none = new Call(flowOf({ g: { type: 'gather', prompts: ['q'], finishKey: '', next: 'w', saveAs: 'n' }, w: { type: 'wait' } }))
  none.send(start)
  none.send(digits('7#'))
  assert.equal(none.state!.vars.n, '7#')
})

test('digits typed before a timeout still count as input', () => {
  const call = new Call(menuFlow())
  call.send(start)
  assert.deepEqual(act(call.send(digits('1', 'timeout'))), { action: 'wait', args: { seconds: 1 } })
})

test('gather without saveAs records no result', () => {
  const call = new Call(flowOf({ g: { type: 'gather', prompts: ['q'], branches: { 1: 'w' } }, w: { type: 'wait' } }))
  call.send(start)
  assert.deepEqual(call.send(digits('1')).results, [])
})

test('dial renders its templates, follows status branches and records the outcome', () => {
  const flow = flowOf({
    d: { type: 'dial', to: 'PJSIP/${agent}@pbx', timeoutSec: 20, callerId: '"Shop" <${did}>', branches: { BUSY: 'busy', ANSWER: 'end' }, next: 'other', saveAs: 'dial' },
    busy: { type: 'wait', seconds: 1 },
    other: { type: 'wait', seconds: 2 },
    end: hangupNode,
  })
  const ctx = { vars: { agent: '1001', did: '+15550100' } }
  const call = new Call(flow, ctx)
  assert.deepEqual(act(call.send(start)), { action: 'dial', args: { to: 'PJSIP/1001@pbx', timeoutSec: 20, callerId: '"Shop" <+15550100>' } })
  const r = call.send(dialed('BUSY'))
  assert.deepEqual(act(r), { action: 'wait', args: { seconds: 1 } })
  assert.deepEqual(r.results, [{ node: 'd', key: 'dial', value: 'BUSY', type: 'dial' }])
  assert.equal(r.state.vars.dial, 'BUSY')
  for (const [status, expected] of [['ANSWER', 'hangup'], ['NOANSWER', 'wait'], ['CONGESTION', 'wait'], ['CHANUNAVAIL', 'wait'], ['CANCEL', 'wait']] as const) {
    const c = new Call(flow, ctx)
    c.send(start)
    const out = c.send(dialed(status, status === 'ANSWER' ? 42 : undefined))
    assert.equal(out.kind === 'action' && out.action, expected, status)
    if (status === 'ANSWER') assert.deepEqual(out.results, [{ node: 'd', key: 'dial', value: 'ANSWER', type: 'dial', durationSec: 42 }])
  }
})

test('dial uses 30 s by default and its node id as the result key', () => {
  const call = new Call(flowOf({ d: { type: 'dial', to: 'PJSIP/100' } }))
  assert.deepEqual(act(call.send(start)), { action: 'dial', args: { to: 'PJSIP/100', timeoutSec: 30 } })
  assert.deepEqual(call.send(dialed('NOANSWER')).results, [{ node: 'd', key: 'd', value: 'NOANSWER', type: 'dial' }])
})

test('a dial string refuses substituted values that could add Dial options or destinations', () => {
  for (const bad of ['1001,,U(evil)', '1001&PJSIP/999', 'a b', '1001/x']) {
    const call = new Call(flowOf({ d: { type: 'dial', to: 'PJSIP/${n}' } }), { vars: { n: bad } })
    const r = call.send(start)
    assert.deepEqual(act(r), { action: 'hangup', args: { cause: CAUSE_ERROR } }, bad)
    assert.equal(r.results[0]!.type, 'error')
    assert.match(r.results[0]!.value, /dial string refuses/)
  }
  const caller = new Call(flowOf({ d: { type: 'dial', to: 'PJSIP/1', callerId: '${c}' } }), { vars: { c: 'x,y' } })
  assert.match(caller.send(start).results[0]!.value, /caller id refuses/)
  const empty = new Call(flowOf({ d: { type: 'dial', to: '${n}' } }))
  assert.match(empty.send(start).results[0]!.value, /dial string '' is not allowed/)
})

test('record uses defaults, a unique file name, and saves the file as a result', () => {
  const call = new Call(flowOf({ r: { type: 'record', saveAs: 'msg', next: 'w' }, w: { type: 'wait' } }), { callId: 'call-77' })
  assert.deepEqual(act(call.send(start)), { action: 'record', args: { file: 'rec-call-77-r-1', format: 'wav', maxSec: 60, silenceSec: 5, beep: true } })
  const r = call.send(recorded('rec-call-77-r-1.wav', 12.5))
  assert.deepEqual(act(r), { action: 'wait', args: { seconds: 1 } })
  assert.deepEqual(r.results, [{ node: 'r', key: 'msg', value: 'rec-call-77-r-1.wav', type: 'record', durationSec: 12.5 }])
  assert.equal(r.state.vars.msg, 'rec-call-77-r-1.wav')
})

test('record honours its options and falls back to the uniqueid for the file name', () => {
  const flow = flowOf({ r: { type: 'record', file: 'vm', format: 'gsm', maxSec: 30, silenceSec: 0, beep: false } })
  const call = new Call(flow, { channel: { uniqueid: '1700000000.12' } })
  assert.deepEqual(act(call.send(start)), { action: 'record', args: { file: 'vm-1700000000.12-r-1', format: 'gsm', maxSec: 30, silenceSec: 0, beep: false } })
  assert.deepEqual(call.send(recorded('x', 1)).results, [{ node: 'r', key: 'r', value: 'x', type: 'record', durationSec: 1 }])
  const odd = new Call(flow, { callId: 'a:b/c' })
  const r = odd.send(start)
  assert.equal(r.kind === 'action' && r.action === 'record' && r.args.file, 'vm-a_b_c-r-1')
})

test('wait waits one second by default', () => {
  const call = new Call(flowOf({ w: { type: 'wait', next: 'p' }, p: { type: 'play', prompts: ['x'] } }))
  assert.deepEqual(act(call.send(start)), { action: 'wait', args: { seconds: 1 } })
  assert.deepEqual(act(call.send(waited)), { action: 'play', args: { prompts: ['x'], escapeDigits: '' } })
})

test('amd uses Asterisk-like defaults and branches on HUMAN, MACHINE and NOTSURE', () => {
  const flow = flowOf({
    a: { type: 'amd', branches: { HUMAN: 'h', MACHINE: 'm' }, next: 'n', saveAs: 'amd' },
    h: { type: 'wait', seconds: 1 },
    m: { type: 'wait', seconds: 2 },
    n: { type: 'wait', seconds: 3 },
  })
  const expect = { HUMAN: 1, MACHINE: 2, NOTSURE: 3 } as const
  for (const status of ['HUMAN', 'MACHINE', 'NOTSURE'] as const) {
    const call = new Call(flow)
    assert.deepEqual(act(call.send(start)), { action: 'amd', args: { initialSilenceMs: 2500, greetingMs: 1500, totalAnalysisMs: 5000 } })
    const r = call.send(amd(status))
    assert.deepEqual(act(r), { action: 'wait', args: { seconds: expect[status] } })
    assert.deepEqual(r.results, [{ node: 'a', key: 'amd', value: status, type: 'amd' }])
    assert.equal(r.state.vars.amd, status)
  }
  const custom = new Call(flowOf({ a: { type: 'amd', initialSilenceMs: 2000, greetingMs: 1000, totalAnalysisMs: 4000 } }))
  assert.deepEqual(act(custom.send(start)), { action: 'amd', args: { initialSilenceMs: 2000, greetingMs: 1000, totalAnalysisMs: 4000 } })
})

test('set renders templates against the variables as they were before the node', () => {
  const flow = flowOf({
    s: { type: 'set', vars: { a: 'x', greeting: 'hi-${name}', b: '${a}' }, next: 'p' },
    p: { type: 'play', prompts: ['${greeting}'] },
  })
  const call = new Call(flow, { vars: { name: 'ann', a: 'old' } })
  const r = call.send(start)
  assert.deepEqual(act(r), { action: 'play', args: { prompts: ['hi-ann'], escapeDigits: '' } })
  assert.equal(r.state.vars.a, 'x')
  assert.equal(r.state.vars.b, 'old')
})

test('an unknown variable renders as empty', () => {
  const call = new Call(flowOf({ p: { type: 'play', prompts: ['x${nope}'] } }))
  assert.deepEqual(act(call.send(start)), { action: 'play', args: { prompts: ['x'], escapeDigits: '' } })
})

test('a templated prompt that renders to an unsafe name ends the call with an error', () => {
  for (const bad of ['../etc', '/abs', 'a b', 'x.wav', '']) {
    const call = new Call(flowOf({ p: { type: 'play', prompts: ['${f}'] } }), { vars: { f: bad } })
    const r = call.send(start)
    assert.deepEqual(act(r), { action: 'hangup', args: { cause: CAUSE_ERROR } }, bad)
    assert.match(r.results[0]!.value, /not a safe file name/)
  }
})

function conditionTarget (op: string, value: unknown, varValue: string | undefined): string {
  const flow = flowOf({
    c: { type: 'condition', when: [{ var: 'v', op, value, next: 'yes' }], else: 'no' },
    yes: { type: 'play', prompts: ['yes'] },
    no: { type: 'play', prompts: ['no'] },
  })
  const r = step(flow, undefined, start, { vars: varValue === undefined ? {} : { v: varValue } })
  return r.kind === 'action' && r.action === 'play' ? r.args.prompts[0]! : 'other'
}

test('condition operators eq and ne compare text', () => {
  assert.equal(conditionTarget('eq', 'a', 'a'), 'yes')
  assert.equal(conditionTarget('eq', 'a', 'b'), 'no')
  assert.equal(conditionTarget('eq', 1, '1'), 'yes')
  assert.equal(conditionTarget('eq', '', undefined), 'yes', 'a missing variable is empty')
  assert.equal(conditionTarget('ne', 'a', 'b'), 'yes')
  assert.equal(conditionTarget('ne', 'a', 'a'), 'no')
})

test('condition operators lt and gt compare numbers and are false for non-numbers', () => {
  assert.equal(conditionTarget('lt', 10, '9'), 'yes')
  assert.equal(conditionTarget('lt', 10, '10'), 'no')
  assert.equal(conditionTarget('gt', '10', '11'), 'yes', 'numeric, not text, comparison')
  assert.equal(conditionTarget('gt', 10, '9'), 'no')
  assert.equal(conditionTarget('gt', 0, 'abc'), 'no')
  assert.equal(conditionTarget('lt', 1, ''), 'no', 'empty is not zero')
  assert.equal(conditionTarget('lt', 1, undefined), 'no')
})

test('condition operators in and matches', () => {
  assert.equal(conditionTarget('in', ['1', 2, 'x'], '2'), 'yes')
  assert.equal(conditionTarget('in', ['1', 2], '3'), 'no')
  assert.equal(conditionTarget('matches', '^\\+1', '+15550100'), 'yes')
  assert.equal(conditionTarget('matches', '^\\+1', '+445550100'), 'no')
  assert.equal(conditionTarget('matches', '55', '+15550100'), 'yes', 'matches anywhere unless anchored')
})

test('condition takes the first matching rule, renders templated values, and ends the call without else', () => {
  const flow = flowOf({
    c: {
      type: 'condition',
      when: [
        { var: 'a', op: 'eq', value: '${b}', next: 'first' },
        { var: 'a', op: 'ne', value: '', next: 'second' },
      ],
    },
    first: { type: 'play', prompts: ['first'] },
    second: { type: 'play', prompts: ['second'] },
  })
  const prompt = (vars: Record<string, string>) => { const r = step(flow, undefined, start, { vars }); return r.kind === 'action' && r.action === 'play' ? r.args.prompts[0] : (r.kind === 'action' ? r.action : 'http') }
  assert.equal(prompt({ a: 'x', b: 'x' }), 'first')
  assert.equal(prompt({ a: 'x', b: 'y' }), 'second')
  assert.equal(prompt({ a: '', b: 'z' }), 'hangup')
})

test('hangup ends the flow with its cause (16 by default) and further events hang up again', () => {
  const call = new Call(flowOf({ h: { type: 'hangup', cause: 17 } }))
  const r = call.send(start)
  assert.deepEqual(act(r), { action: 'hangup', args: { cause: 17 } })
  assert.equal(r.done, true)
  assert.deepEqual(r.state.vars, {})
  for (const e of [played(), digits('1'), failed('x'), start]) {
    const again = call.send(e)
    assert.deepEqual(act(again), { action: 'hangup', args: { cause: CAUSE_NORMAL } })
    assert.deepEqual(again.results, [])
    assert.equal(again.done, true)
  }
  assert.deepEqual(act(new Call(flowOf({ h: { type: 'hangup' } })).send(start)), { action: 'hangup', args: { cause: 16 } })
})

test('goto hands the call to a local context with the flow variables, then answers hangup', () => {
  const flow = flowOf({
    s: { type: 'set', vars: { lang: 'en', target: '2${n}' }, next: 'g' },
    g: { type: 'goto', context: 'from-federate', extension: 'q${target}' },
  })
  const call = new Call(flow, { channel: { callerid: '+1555', extension: '100' }, vars: { n: '5' } })
  const r = call.send(start)
  assert.deepEqual(act(r), { action: 'goto', args: { context: 'from-federate', extension: 'q25', priority: 1 } })
  assert.deepEqual(r.kind === 'action' && r.vars, { n: '5', lang: 'en', target: '25' }, 'channel variables are not exported')
  assert.equal(r.done, true)
  assert.equal(r.state.done, 'goto')
  assert.deepEqual(act(call.send(played())), { action: 'hangup', args: { cause: CAUSE_NORMAL } })
})

test('goto refuses a substituted extension with characters Goto cannot take', () => {
  const call = new Call(flowOf({ g: { type: 'goto', context: 'c', extension: '${x}', priority: 2 } }), { vars: { x: 'a,b' } })
  assert.deepEqual(act(call.send(start)), { action: 'hangup', args: { cause: CAUSE_ERROR } })
})

test('an error event ends the call with the error fallback and an error result', () => {
  const call = new Call(menuFlow())
  call.send(start)
  const r = call.send(failed('Read failed'))
  assert.deepEqual(act(r), { action: 'hangup', args: { cause: CAUSE_ERROR } })
  assert.deepEqual(r.results, [{ node: 'm', key: 'error', value: "dialplan error at node 'm': Read failed", type: 'error' }])
  assert.equal(r.state.done, 'hangup')
})

test('an event that does not fit the current node ends the call with an error', () => {
  const cases = [played(), dialed('ANSWER'), recorded('f', 1), waited, amd('HUMAN'), start]
  for (const e of cases) {
    const call = new Call(menuFlow())
    call.send(start)
    const r = call.send(e)
    assert.deepEqual(act(r), { action: 'hangup', args: { cause: CAUSE_ERROR } }, e.event)
    assert.equal(r.results[0]!.type, 'error')
  }
})

test('malformed event data, a missing state and a state pointing nowhere end the call with an error', () => {
  const flow = menuFlow()
  const bad = step(flow, { node: 'm', retries: 0, vars: {}, steps: 1 }, { event: 'digits', data: { digits: 'abc', status: 'ok' } } as never)
  assert.match(bad.results[0]!.value, /malformed event/)
  const unknown = step(flow, { node: 'm', retries: 0, vars: {}, steps: 1 }, { event: 'nope', data: {} } as never)
  assert.match(unknown.results[0]!.value, /malformed event/)
  const noState = step(flow, undefined, digits('1'))
  assert.match(noState.results[0]!.value, /without a state/)
  const lost = step(flow, { node: 'gone', retries: 0, vars: {}, steps: 1 }, digits('1'))
  assert.match(lost.results[0]!.value, /does not have/)
  const proto = step(flow, { node: 'constructor', retries: 0, vars: {}, steps: 1 }, digits('1'))
  assert.match(proto.results[0]!.value, /does not have/)
  for (const r of [bad, unknown, noState, lost, proto]) assert.deepEqual(act(r), { action: 'hangup', args: { cause: CAUSE_ERROR } })
})

test('a loop of pass-through nodes is cut after maxHops with an error', () => {
  // The validator refuses this loop; the engine must still survive an unvalidated flow.
  const flow = {
    format: 'federate.flow/1',
    name: 'loop',
    start: 'a',
    nodes: { a: { type: 'set', vars: { x: '1' }, next: 'b' }, b: { type: 'condition', when: [{ var: 'x', op: 'eq', value: '1', next: 'a' }] } },
  } as const
  const r = step(flow as never, undefined, start)
  assert.deepEqual(act(r), { action: 'hangup', args: { cause: CAUSE_ERROR } })
  assert.match(r.results[0]!.value, /more than 100 nodes without caller interaction/)
  const small = step(flow as never, undefined, start, { limits: { maxHops: 5 } })
  assert.match(small.results[0]!.value, /more than 5 nodes/)
})

test('a call is cut after maxSteps events', () => {
  const flow = flowOf({ p: { type: 'play', prompts: ['a'], next: 'p' } })
  const call = new Call(flow, { limits: { maxSteps: 4 } })
  call.send(start)
  for (let i = 0; i < 3; i++) assert.equal(call.send(played()).kind === 'action' && call.last.kind === 'action' && call.last.action, 'play')
  const r = call.send(played())
  assert.deepEqual(act(r), { action: 'hangup', args: { cause: CAUSE_ERROR } })
  assert.match(r.results[0]!.value, /more than 4 steps/)
})

test('variables are bounded in length, count and total size', () => {
  const long = 'x'.repeat(1000)
  const call = new Call(flowOf({ s: { type: 'set', vars: { a: long }, next: 'w' }, w: { type: 'wait' } }))
  assert.equal(call.send(start).state.vars.a!.length, 256)
  const many = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`v${i}`, 'y'.repeat(250)]))
  const big = new Call(flowOf({ s: { type: 'set', vars: many, next: 'w' }, w: { type: 'wait' } }))
  assert.match(big.send(start).results[0]!.value, /variables take \d+ bytes/)
  const count = new Call(flowOf({ s: { type: 'set', vars: many, next: 'w' }, w: { type: 'wait' } }), { limits: { maxVars: 5 } })
  assert.match(count.send(start).results[0]!.value, /more than 5 variables/)
})

test('error results keep results gathered earlier in the same step', () => {
  const flow = flowOf({ g: { type: 'gather', prompts: ['q'], next: 'p', saveAs: 'n' }, p: { type: 'play', prompts: ['${n}/x'] } })
  const call = new Call(flow)
  call.send(start)
  const r = call.send(digits('1*'))
  assert.deepEqual(r.results.map((x) => x.type), ['gather', 'error'])
})

test('step never throws, even on a state of the wrong shape', () => {
  const flow = menuFlow()
  const weird = [
    { node: 'm', retries: 0, vars: null, steps: 1 },
    { node: 'm', retries: 'x', vars: 'abc', steps: 'y' },
    { node: 42, vars: { __proto__: { choice: '1' } } },
    { node: 'm', retries: 0, vars: Object.create(null), steps: 1 },
  ]
  for (const state of weird) {
    const r = step(flow, state as unknown as FlowState, digits('1'))
    assertProtocolValid(r)
  }
})
