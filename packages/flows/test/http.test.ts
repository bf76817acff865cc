/* eslint-disable no-template-curly-in-string -- flows use ${name} placeholders in plain strings */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CAUSE_ERROR, resumeHttp, step } from '../src/index.ts'
import { act, Call, flowOf, played, start } from './helpers.ts'

const hookFlow = (extra: Record<string, unknown> = {}) => flowOf({
  lookup: { type: 'http', url: 'https://crm.example.com/caller?n=${callerid}', saveAs: 'crm', next: 'route', onError: 'sorry', ...extra },
  route: { type: 'condition', when: [{ var: 'crm_tier', op: 'eq', value: 'gold', next: 'vip' }], else: 'normal' },
  vip: { type: 'play', prompts: ['vip'] },
  normal: { type: 'play', prompts: ['normal'] },
  sorry: { type: 'play', prompts: ['sorry'] },
})

test('an http node asks the caller to perform the request, with URL-encoded variables', () => {
  const call = new Call(hookFlow(), { channel: { callerid: '+1 555&x=1' } })
  const r = call.send(start)
  assert.equal(r.kind, 'http')
  assert.deepEqual(r.kind === 'http' && r.request, {
    url: 'https://crm.example.com/caller?n=%2B1%20555%26x%3D1', method: 'GET', timeoutMs: 3000, headers: { accept: 'application/json' },
  })
  assert.equal(r.state.await, 'http')
  assert.equal(r.state.node, 'lookup')
})

test('a 2xx answer is saved (raw, status and JSON members) and the flow continues at next', () => {
  const call = new Call(hookFlow(), { channel: { callerid: '1' } })
  call.send(start)
  const r = call.http({ status: 200, body: '{"tier":"gold","score":7,"nested":{"a":1},"bad key":"x"}' })
  assert.deepEqual(act(r), { action: 'play', args: { prompts: ['vip'], escapeDigits: '' } })
  assert.equal(r.state.vars.crm_tier, 'gold')
  assert.equal(r.state.vars.crm_score, '7')
  assert.equal(r.state.vars.crm_status, '200')
  assert.equal(r.state.vars.crm_nested, undefined)
  assert.equal(r.state.vars['crm_bad key'], undefined)
  assert.equal(r.state.vars.crm, '{"tier":"gold","score":7,"nested":{"a":1},"bad key":"x"}')
  assert.deepEqual(r.results, [{ node: 'lookup', key: 'crm', value: '{"tier":"gold","score":7,"nested":{"a":1},"bad key":"x"}', type: 'http' }])
  assert.equal(r.state.await, undefined)
  assert.equal(r.state.hops, undefined)
})

test('a non-JSON 2xx answer is kept as text', () => {
  const call = new Call(hookFlow())
  call.send(start)
  const r = call.http({ status: 204 })
  assert.deepEqual(act(r), { action: 'play', args: { prompts: ['normal'], escapeDigits: '' } })
  assert.equal(r.state.vars.crm, '')
})

test('a non-2xx status, a network error and a timeout go to onError with the reason saved', () => {
  const cases = [
    [{ status: 503, body: 'down' }, 'status 503'],
    [{ error: 'ECONNREFUSED' }, 'error: ECONNREFUSED'],
    [{ error: 'aborted', timeout: true }, 'timeout'],
  ] as const
  for (const [outcome, reason] of cases) {
    const call = new Call(hookFlow())
    call.send(start)
    const r = call.http(outcome)
    assert.deepEqual(act(r), { action: 'play', args: { prompts: ['sorry'], escapeDigits: '' } }, reason)
    assert.equal(r.state.vars.crm_error, reason)
    assert.deepEqual(r.results, [])
  }
})

test('without onError a failed request continues at next', () => {
  const call = new Call(hookFlow({ onError: undefined }))
  call.send(start)
  assert.deepEqual(act(call.http({ error: 'x', timeout: true })), { action: 'play', args: { prompts: ['normal'], escapeDigits: '' } })
})

test('POST sends the variables as JSON, or the rendered body fields', () => {
  const all = new Call(flowOf({ h: { type: 'http', url: 'https://x.example.com/', method: 'POST', timeoutMs: 500, next: 'p' }, p: { type: 'play', prompts: ['p'] } }), { vars: { a: '1' } })
  const r = all.send(start)
  assert.deepEqual(r.kind === 'http' && r.request, {
    url: 'https://x.example.com/', method: 'POST', timeoutMs: 500, headers: { accept: 'application/json', 'content-type': 'application/json' }, body: '{"a":"1"}',
  })
  const some = new Call(flowOf({ h: { type: 'http', url: 'https://x.example.com/', method: 'POST', body: { who: '${a}-x' } } }), { vars: { a: '1', b: '2' } })
  const s = some.send(start)
  assert.equal(s.kind === 'http' && s.request.body, '{"who":"1-x"}')
})

test('results gathered before a hook travel with the directive', () => {
  const call = new Call(flowOf({
    g: { type: 'gather', prompts: ['q'], next: 'h', saveAs: 'n' },
    h: { type: 'http', url: 'https://x.example.com/?n=${n}', next: 'p' },
    p: { type: 'play', prompts: ['p'] },
  }))
  call.send(start)
  const r = call.send({ event: 'digits', data: { digits: '5', status: 'ok' } })
  assert.equal(r.kind, 'http')
  assert.deepEqual(r.results, [{ node: 'g', key: 'n', value: '5', type: 'gather' }])
  assert.deepEqual(call.http({ status: 200, body: 'ok' }).results, [])
})

test('chained hooks are capped per step (maxHttp)', () => {
  const flow = flowOf({
    a: { type: 'http', url: 'https://x.example.com/a', next: 'b' },
    b: { type: 'http', url: 'https://x.example.com/b', next: 'p' },
    p: { type: 'play', prompts: ['p'] },
  })
  const ok = new Call(flow)
  assert.equal(ok.send(start).kind, 'http')
  assert.equal(ok.http({ status: 200 }).kind, 'http')
  assert.equal(ok.http({ status: 200 }).kind, 'action')
  const capped = new Call(flow, { limits: { maxHttp: 1 } })
  capped.send(start)
  const r = capped.http({ status: 200 })
  assert.deepEqual(act(r), { action: 'hangup', args: { cause: CAUSE_ERROR } })
  assert.match(r.results[0]!.value, /more than 1 web hook requests/)
})

test('the hop budget carries across a hook so a loop through it is still cut', () => {
  const flow = {
    format: 'federate.flow/1',
    name: 'loop',
    start: 'a',
    nodes: {
      a: { type: 'set', vars: { x: '1' }, next: 'h' },
      h: { type: 'http', url: 'https://x.example.com/', next: 'a' },
    },
  }
  let r = step(flow as never, undefined, start, { limits: { maxHops: 6, maxHttp: 100 } })
  let rounds = 0
  while (r.kind === 'http' && rounds++ < 10) r = resumeHttp(flow as never, r.state, { status: 200 }, { limits: { maxHops: 6, maxHttp: 100 } })
  assert.deepEqual(act(r), { action: 'hangup', args: { cause: CAUSE_ERROR } })
  assert.match(r.results[0]!.value, /more than 6 nodes/)
  assert.ok(rounds <= 3)
})

test('with an allow-list, a URL outside it goes straight to onError without a request', () => {
  const call = new Call(hookFlow(), { httpAllowList: ['api.example.com'] })
  const r = call.send(start)
  assert.deepEqual(act(r), { action: 'play', args: { prompts: ['sorry'], escapeDigits: '' } })
  assert.equal(r.state.vars.crm_error, 'error: host crm.example.com is not in the allow-list')
  const allowed = new Call(hookFlow(), { httpAllowList: ['*.example.com'] })
  assert.equal(allowed.send(start).kind, 'http')
})

test('resumeHttp without a pending request, or on a node that is not http, ends the call with an error', () => {
  const flow = hookFlow()
  const idle = resumeHttp(flow, { node: 'lookup', retries: 0, vars: {}, steps: 1 }, { status: 200 })
  assert.match(idle.results[0]!.value, /without a web hook request pending/)
  const wrong = resumeHttp(flow, { node: 'vip', retries: 0, vars: {}, steps: 1, await: 'http' }, { status: 200 })
  assert.match(wrong.results[0]!.value, /not an http node/)
  for (const r of [idle, wrong]) assert.deepEqual(act(r), { action: 'hangup', args: { cause: CAUSE_ERROR } })
})

test('a call event while a hook answer is awaited ends the call with an error', () => {
  const call = new Call(hookFlow())
  call.send(start)
  const r = call.send(played())
  assert.match(r.results[0]!.value, /while a web hook answer is awaited/)
})
