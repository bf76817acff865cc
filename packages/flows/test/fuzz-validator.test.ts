/* eslint-disable no-template-curly-in-string -- flows use ${name} placeholders in plain strings */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { test } from 'node:test'
import { AMD_STATUSES, DIAL_STATUSES, type CallEvent } from '@federate/protocol'
import fc from 'fast-check'
import { resumeHttp, step, validateFlow, type Flow, type FlowState, type HttpOutcome, type ValidationResult } from '../src/index.ts'
import { assertProtocolValid } from './helpers.ts'

// The validator is the gate between an operator's document and the engine: whatever it is given
// it answers (never throws), every refusal says something, and whatever it accepts the engine
// can run, with any sequence of events, without throwing.

const examplesDir = new URL('../../../examples/flows/', import.meta.url)
const examples: Array<[string, Record<string, unknown>]> = readdirSync(examplesDir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => [f, JSON.parse(readFileSync(new URL(f, examplesDir), 'utf8')) as Record<string, unknown>])

/** Asserts the shape of a validation result, and returns it. */
function checked (doc: unknown): ValidationResult {
  let r: ValidationResult
  try {
    r = validateFlow(doc)
  } catch (err) {
    assert.fail(`validateFlow threw ${(err as Error).stack}\nfor ${String(JSON.stringify(doc)).slice(0, 400)}`)
  }
  assert.ok(Array.isArray(r.warnings))
  if (r.ok) {
    assert.equal(typeof r.flow, 'object')
    return r
  }
  assert.ok(r.errors.length > 0, 'a refusal has at least one error')
  for (const e of r.errors) {
    assert.equal(typeof e.message, 'string')
    assert.ok(e.message.length > 5, `an error says something: ${JSON.stringify(e)}`)
    assert.equal(typeof e.path, 'string')
    if (e.node !== undefined) assert.ok(e.message.includes(`'${e.node}'`), `an error about a node names it: ${e.message}`)
  }
  return r
}

test('random JSON values and texts never make the validator throw, and every refusal says why', () => {
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => { checked(v) }), { numRuns: 300 })
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => { checked(s) }), { numRuns: 200 })
  // Objects that look like flows: the envelope right, the nodes random.
  fc.assert(fc.property(
    fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record({ type: fc.constantFrom('play', 'gather', 'menu', 'dial', 'record', 'wait', 'amd', 'set', 'condition', 'http', 'hangup', 'goto', 'exec') }, { requiredKeys: ['type'] })
    ), { minKeys: 1, maxKeys: 6 }),
    (nodes) => { checked({ format: 'federate.flow/1', name: 'fuzz', start: Object.keys(nodes)[0], nodes }) }
  ), { numRuns: 300 })
  // Values JSON cannot hold or that no JSON document would contain.
  const cyclic: Record<string, unknown> = { format: 'federate.flow/1', name: 'c', start: 'a' }
  cyclic.nodes = { a: cyclic }
  for (const odd of [cyclic, { toJSON () { throw new Error('no') } }, 10n, Symbol('s'), () => 1, undefined, NaN, new Date(0), Object.create(null)]) checked(odd)
  checked(`{"format":"federate.flow/1","nodes":${'['.repeat(50_000)}${']'.repeat(50_000)}}`)
})

// Mutations of the example flows: every value of the document can be deleted, replaced by random
// JSON or by a string chosen to be awkward, retargeted at a node (or a missing one), and nodes
// can be copied. Many mutants stay valid, so the engine gets varied accepted flows too.
type Path = Array<string | number>
function paths (v: unknown, at: Path = [], out: Path[] = []): Path[] {
  if (at.length > 0) out.push(at)
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out))
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out)
  return out
}

const AWKWARD = ['', ' ', '${x}', '${', '${a-b}', '../x', '/etc/passwd', 'a,b', 'PJSIP/x,,r', '0', '-1', '1e309', 'null', '__proto__', 'constructor',
  'http://127.0.0.1/', 'http://${h}/', 'file:///x', '(a+)+$', '[', '*', '#', '\u0000', 'é', '🙂', 'x'.repeat(300)]
const replacement = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom<unknown>(...AWKWARD), fc.integer({ min: -5, max: 100_000 }))
const mutation = fc.record({
  kind: fc.constantFrom('delete', 'replace', 'retarget', 'copy-node', 'rename-node'),
  at: fc.nat(),
  value: replacement,
  pick: fc.nat(),
})
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never

function mutate (doc: Record<string, unknown>, ms: Mutation[]): Record<string, unknown> {
  const d = structuredClone(doc)
  for (const m of ms) {
    const nodes = (typeof d.nodes === 'object' && d.nodes !== null && !Array.isArray(d.nodes) ? d.nodes : {}) as Record<string, unknown>
    const ids = Object.keys(nodes)
    if (m.kind === 'copy-node' || m.kind === 'rename-node') {
      if (ids.length === 0) continue
      const id = ids[m.pick % ids.length]!
      const to = `${id}-${m.at % 3}`
      nodes[to] = structuredClone(nodes[id])
      if (m.kind === 'rename-node') delete nodes[id]
      continue
    }
    const all = paths(d)
    if (all.length === 0) continue
    const path = all[m.at % all.length]!
    let parent: any = d
    for (const k of path.slice(0, -1)) parent = parent[k]
    const last = path[path.length - 1]!
    if (m.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(last as number, 1)
      else delete parent[last]
    } else if (m.kind === 'replace') {
      parent[last] = structuredClone(m.value)
    } else {
      parent[last] = m.pick % 5 === 0 ? 'ghost' : (ids[m.pick % Math.max(ids.length, 1)] ?? 'ghost')
    }
  }
  return d
}

// Events the protocol allows (call.step checks the data), in any order, with any outcome.
const event: fc.Arbitrary<CallEvent> = fc.oneof(
  fc.constant<CallEvent>({ event: 'start', data: {} }),
  fc.option(fc.constantFrom(...'0123456789*#'), { nil: undefined }).map((digit): CallEvent => ({ event: 'played', data: digit === undefined ? {} : { digit } })),
  fc.record({ digits: fc.string({ unit: fc.constantFrom(...'0123456789*#'), maxLength: 8 }), status: fc.constantFrom('ok' as const, 'timeout' as const) })
    .map((data): CallEvent => ({ event: 'digits', data })),
  fc.record({ status: fc.constantFrom(...DIAL_STATUSES), answeredSec: fc.option(fc.nat(3600), { nil: undefined }) })
    .map(({ status, answeredSec }): CallEvent => ({ event: 'dialed', data: answeredSec === undefined ? { status } : { status, answeredSec } })),
  fc.record({ file: fc.stringMatching(/^[a-z0-9-]{1,20}$/), durationSec: fc.nat(600) }).map((data): CallEvent => ({ event: 'recorded', data })),
  fc.constantFrom(...AMD_STATUSES).map((status): CallEvent => ({ event: 'amd', data: { status } })),
  fc.constant<CallEvent>({ event: 'waited', data: {} }),
  fc.string({ maxLength: 30 }).map((message): CallEvent => ({ event: 'error', data: { message } }))
)
const outcome: fc.Arbitrary<HttpOutcome> = fc.oneof(
  fc.record({ status: fc.constantFrom(200, 204, 301, 404, 500), body: fc.oneof(fc.json({ maxDepth: 3 }), fc.string({ maxLength: 60 })) }),
  fc.record({ error: fc.string({ maxLength: 20 }), timeout: fc.boolean() })
)
const channel = fc.dictionary(fc.constantFrom('extension', 'callerid', 'dnid', 'language', 'uniqueid', 'x_custom'), fc.string({ maxLength: 40 }), { maxKeys: 4 })

function run (flow: Flow, events: CallEvent[], outcomes: HttpOutcome[], ch: Record<string, string>): void {
  let state: FlowState | undefined
  const ctx = { callId: 'fuzz-1', channel: ch, httpAllowList: ['*.example.com', 'crm.example.org'] }
  let hooks = 0
  for (const e of events) {
    let r = step(flow, state, e, ctx)
    while (r.kind === 'http') {
      assertProtocolValid(r)
      r = resumeHttp(flow, r.state, outcomes[hooks++ % outcomes.length]!, ctx)
    }
    assertProtocolValid(r)
    state = r.state
  }
}

for (const [file, doc] of examples) {
  test(`mutants of ${file} never make the validator throw, and every mutant it accepts runs through the engine`, (t) => {
    let accepted = 0
    let refused = 0
    fc.assert(fc.property(
      fc.array(mutation, { minLength: 1, maxLength: 4 }),
      fc.array(event, { minLength: 1, maxLength: 15 }),
      fc.array(outcome, { minLength: 4, maxLength: 4 }),
      channel,
      (ms, events, outcomes, ch) => {
        const mutant = mutate(doc, ms)
        const r = checked(mutant)
        // Text and object forms get the same answer.
        assert.equal(checked(JSON.stringify(mutant)).ok, r.ok)
        if (!r.ok) { refused++; return }
        accepted++
        try {
          run(r.flow, events, outcomes, ch)
        } catch (err) {
          assert.fail(`the engine threw on an accepted flow: ${(err as Error).stack}\n${JSON.stringify(mutant)}`)
        }
      }
    ), { numRuns: 400 })
    t.diagnostic(`${accepted} mutants accepted and run, ${refused} refused`)
    // Both sides were exercised: the property said something about accepted flows.
    assert.ok(accepted >= 25, `only ${accepted} of 400 mutants were accepted`)
    assert.ok(refused >= 40, `only ${refused} of 400 mutants were refused`)
  })
}
