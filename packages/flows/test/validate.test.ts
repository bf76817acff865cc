/* eslint-disable no-template-curly-in-string -- flows use ${name} placeholders in plain strings */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MAX_FLOW_BYTES, validateFlow, type FlowIssue } from '../src/index.ts'
import { doc } from './helpers.ts'

type Nodes = Parameters<typeof doc>[0]

function errorsOf (input: unknown): FlowIssue[] {
  const v = validateFlow(input)
  assert.equal(v.ok, false, 'expected the flow to be rejected')
  return v.ok ? [] : v.errors
}

/** Asserts one error about `node` whose message matches `pattern` (and, if given, at `path`). */
function rejects (nodes: Nodes, node: string | undefined, pattern: RegExp, path?: string, start?: string): void {
  const errors = errorsOf(doc(nodes, start))
  const hit = errors.find((e) => e.node === node && pattern.test(e.message))
  assert.ok(hit, `no error for ${node} matching ${pattern}; got ${JSON.stringify(errors)}`)
  if (path !== undefined) assert.equal(hit.path, path)
  if (node !== undefined) assert.ok(hit.message.includes(`'${node}'`), `message names the node: ${hit.message}`)
}

function accepts (nodes: Nodes, start?: string) {
  const v = validateFlow(doc(nodes, start))
  assert.ok(v.ok, v.ok ? '' : JSON.stringify(v.errors))
  return v
}

const end = { type: 'hangup' }

test('a good flow is accepted and returned as is, also from its JSON text', () => {
  const nodes = { p: { type: 'play', prompts: ['ivr/welcome'], next: 'end' }, end }
  const v = accepts(nodes)
  assert.deepEqual(v.flow, doc(nodes))
  assert.deepEqual(v.warnings, [])
  const text = validateFlow(JSON.stringify(doc(nodes)))
  assert.equal(text.ok, true)
})

test('the document must be a JSON object of the right format', () => {
  assert.match(errorsOf('{nope')[0]!.message, /document is not JSON/)
  assert.match(errorsOf([])[0]!.message, /must be a JSON object/)
  assert.match(errorsOf(null)[0]!.message, /must be a JSON object/)
  const wrong = { ...doc({ end }), format: 'federate.flow/2' }
  assert.deepEqual(errorsOf(wrong).map((e) => e.path), ['/format'])
  const { name: _, ...noName } = doc({ end })
  assert.match(errorsOf(noName)[0]!.message, /name/)
  assert.match(errorsOf({ ...doc({ end }), extra: 1 })[0]!.message, /\/extra is not an allowed field/)
  assert.match(errorsOf({ ...doc({ end }), nodes: {} })[0]!.message, /nodes/)
})

test('a schema error names the node and the field', () => {
  rejects({ g: { type: 'gather', prompts: ['q'], next: 'g', maxDigits: 0 } }, 'g', /\/maxDigits must be >= 1/, '/nodes/g/maxDigits')
  rejects({ p: { type: 'play', prompts: [] } }, 'p', /\/prompts/, '/nodes/p/prompts')
  rejects({ d: { type: 'dial' } }, 'd', /to/)
  rejects({ r: { type: 'record', format: 'mp3' } }, 'r', /\/format/)
  rejects({ h: { type: 'hangup', cause: 200 } }, 'h', /\/cause/)
})

test('an unknown field in a node is named', () => {
  rejects({ p: { type: 'play', prompts: ['a'], nxt: 'p' } }, 'p', /\/nxt is not an allowed field/, '/nodes/p/nxt')
  rejects({ g: { type: 'gather', prompts: ['a'], branches: { x: 'g' } } }, 'g', /\/branches\/x is not an allowed field/)
})

test('an unknown node type is named with the known ones', () => {
  rejects({ x: { type: 'teleport' } }, 'x', /unknown type "teleport" \(one of play, gather, menu/, '/nodes/x/type')
  rejects({ x: 'play' as never }, 'x', /must be an object/)
})

test('a node id must be a short safe name', () => {
  rejects({ e: end, 'bad id': end }, 'bad id', /id must match/, '/nodes/bad id')
  rejects({ e: end, ['x'.repeat(65)]: end }, 'x'.repeat(65), /id must match/)
  rejects({ e: end, 'a/b': end }, 'a/b', /id must match/, '/nodes/a~1b')
})

test('start must point to an existing node', () => {
  const errors = errorsOf(doc({ end }, 'welcome'))
  assert.deepEqual(errors, [{ path: '/start', message: "start points to missing node 'welcome'" }])
})

test('every reference to a missing node is named with its node and field', () => {
  const nodes: Nodes = {
    p: { type: 'play', prompts: ['a'], digits: { 1: 'gone1' }, next: 'gone2' },
    g: { type: 'menu', prompts: ['a'], branches: { 1: 'gone3' }, noInput: 'gone4', invalid: 'gone5' },
    d: { type: 'dial', to: 'PJSIP/1', branches: { BUSY: 'gone6' } },
    c: { type: 'condition', when: [{ var: 'x', op: 'eq', value: '1', next: 'gone7' }], else: 'gone8' },
    h: { type: 'http', url: 'https://a.example.com/', onError: 'gone9' },
    a: { type: 'amd', branches: { MACHINE: 'gone10' } },
  }
  const errors = errorsOf(doc(nodes))
  const expected = [
    ['p', '/nodes/p/digits/1', "node 'p': digits/1 points to missing node 'gone1'"],
    ['p', '/nodes/p/next', "node 'p': next points to missing node 'gone2'"],
    ['g', '/nodes/g/branches/1', "node 'g': branches/1 points to missing node 'gone3'"],
    ['g', '/nodes/g/noInput', "node 'g': noInput points to missing node 'gone4'"],
    ['g', '/nodes/g/invalid', "node 'g': invalid points to missing node 'gone5'"],
    ['d', '/nodes/d/branches/BUSY', "node 'd': branches/BUSY points to missing node 'gone6'"],
    ['c', '/nodes/c/when/0/next', "node 'c': when/0/next points to missing node 'gone7'"],
    ['c', '/nodes/c/else', "node 'c': else points to missing node 'gone8'"],
    ['h', '/nodes/h/onError', "node 'h': onError points to missing node 'gone9'"],
    ['a', '/nodes/a/branches/MACHINE', "node 'a': branches/MACHINE points to missing node 'gone10'"],
  ]
  for (const [node, path, message] of expected) assert.ok(errors.some((e) => e.node === node && e.path === path && e.message === message), `${message} in ${JSON.stringify(errors)}`)
})

test('a reference to an inherited property name is still a missing node', () => {
  rejects({ p: { type: 'play', prompts: ['a'], next: 'constructor' } }, 'p', /next points to missing node 'constructor'/)
})

test('unreachable nodes are warnings, not errors', () => {
  const v = accepts({ p: { type: 'play', prompts: ['a'] }, orphan: end })
  assert.deepEqual(v.warnings, [{ node: 'orphan', path: '/nodes/orphan', message: "node 'orphan': is unreachable from start 'p'" }])
})

test('a loop without caller interaction is refused, naming the nodes', () => {
  rejects({
    a: { type: 'set', vars: { x: '1' }, next: 'b' },
    b: { type: 'condition', when: [{ var: 'x', op: 'eq', value: '1', next: 'a' }], else: 'c' },
    c: end,
  }, 'a', /loop without caller interaction \(a -> b -> a\)/)
  rejects({ s: { type: 'set', vars: { x: '1' }, next: 's' } }, 's', /loop without caller interaction \(s -> s\)/)
  rejects({
    h: { type: 'http', url: 'https://a.example.com/', next: 'c', onError: 'c' },
    c: { type: 'condition', when: [{ var: 'x', op: 'eq', value: '1', next: 'h' }] },
  }, 'h', /loop without caller interaction/)
})

test('a loop through a node that waits for the caller is fine', () => {
  accepts({
    menu: { type: 'gather', prompts: ['m'], branches: { 1: 'count' } },
    count: { type: 'set', vars: { seen: '1' }, next: 'check' },
    check: { type: 'condition', when: [{ var: 'seen', op: 'eq', value: '1', next: 'menu' }], else: 'menu' },
  })
})

test('prompt names must be safe relative file names', () => {
  for (const bad of ['../secret', 'a/../b', '/etc/passwd', 'a b', 'a.wav', 'a//b', 'a/', 'é']) {
    rejects({ p: { type: 'play', prompts: ['ok', bad] } }, 'p', /is not a safe file name/, '/nodes/p/prompts/1')
  }
  rejects({ g: { type: 'gather', prompts: ['q'], next: 'g', invalidPrompt: '..' } }, 'g', /is not a safe file name/, '/nodes/g/invalidPrompt')
  rejects({ g: { type: 'gather', prompts: ['q'], next: 'g', noInputPrompt: 'x.y' } }, 'g', /is not a safe file name/, '/nodes/g/noInputPrompt')
  accepts({ p: { type: 'play', prompts: ['ivr/welcome', 'A_b-9/x', '${lang}/welcome', 'digits/${n}'] } })
  rejects({ p: { type: 'play', prompts: ['../${x}'] } }, 'p', /is not a safe file name/)
})

test('malformed placeholders are refused', () => {
  rejects({ p: { type: 'play', prompts: ['a${b c}'] } }, 'p', /malformed placeholder \$\{b c\}/)
  rejects({ p: { type: 'play', prompts: ['a${b'] } }, 'p', /malformed placeholder/)
  rejects({ s: { type: 'set', vars: { x: '${}' }, next: 'e' }, e: end }, 's', /vars\/x has a malformed placeholder/)
})

test('bad regular expressions are refused', () => {
  rejects({ g: { type: 'gather', prompts: ['q'], next: 'g', validDigits: '([0-9]' } }, 'g', /validDigits is not a valid regular expression/, '/nodes/g/validDigits')
  rejects({ g: { type: 'gather', prompts: ['q'], next: 'g', validDigits: '(1+)+2' } }, 'g', /nested quantifier/)
  rejects({ g: { type: 'gather', prompts: ['q'], next: 'g', validDigits: '(1)\\1' } }, 'g', /back-reference/)
  rejects({ c: { type: 'condition', when: [{ var: 'x', op: 'matches', value: '[', next: 'e' }] }, e: end }, 'c', /value is not a valid regular expression/)
  accepts({ g: { type: 'gather', prompts: ['q'], next: 'g', validDigits: '[0-9]{4}|\\*[0-9]+' } })
})

test('a gather needs somewhere to go with the input', () => {
  rejects({ g: { type: 'gather', prompts: ['q'] } }, 'g', /needs branches, next, or both/)
})

test('menu branches that can never be chosen are refused', () => {
  rejects({ g: { type: 'gather', prompts: ['q'], maxDigits: 1, branches: { 12: 'g' } } }, 'g', /branch '12' is longer than maxDigits 1/, '/nodes/g/branches/12')
  rejects({ g: { type: 'gather', prompts: ['q'], validDigits: ['1'], branches: { 1: 'g', 2: 'g' } } }, 'g', /branch '2' is not one of validDigits/)
  rejects({ g: { type: 'gather', prompts: ['q'], finishKey: '*', branches: { '*1': 'g' } } }, 'g', /contains the finish key/)
})

test('play digits that are not escape digits are refused', () => {
  rejects({ p: { type: 'play', prompts: ['a'], escapeDigits: '1', digits: { 2: 'p' } } }, 'p', /digit '2' can never be pressed/, '/nodes/p/digits/2')
})

test('condition values must fit their operator', () => {
  const cond = (op: string, value: unknown) => ({ c: { type: 'condition', when: [{ var: 'x', op, value, next: 'e' }] }, e: end })
  rejects(cond('in', 'a'), 'c', /operator 'in' needs a list/, '/nodes/c/when/0/value')
  rejects(cond('eq', ['a']), 'c', /needs a single value/)
  rejects(cond('lt', 'ten'), 'c', /compares numbers; "ten" is not a number/)
  rejects(cond('matches', 5), 'c', /needs a regular expression string/)
  rejects(cond('like', 'a'), 'c', /\/when\/0\/op/)
  accepts(cond('gt', '${limit}'))
  accepts(cond('lt', '10'))
})

test('an http URL must be http(s) with a literal host', () => {
  rejects({ h: { type: 'http', url: 'ftp://a.example.com/' } }, 'h', /must start with http:\/\/ or https:\/\//, '/nodes/h/url')
  rejects({ h: { type: 'http', url: 'https://${host}/x' } }, 'h', /literal host/)
  rejects({ h: { type: 'http', url: 'https://a.example.com${path}' } }, 'h', /literal host/)
  accepts({ h: { type: 'http', url: 'https://a.example.com/x?n=${callerid}' } })
})

test('dial strings and caller ids may not carry dialplan separators', () => {
  rejects({ d: { type: 'dial', to: 'PJSIP/1,,U(x)' } }, 'd', /to 'PJSIP\/1,,U\(x\)' may only contain/, '/nodes/d/to')
  rejects({ d: { type: 'dial', to: 'PJSIP/1', callerId: 'a,b' } }, 'd', /callerId 'a,b' has characters/)
  accepts({ d: { type: 'dial', to: 'PJSIP/${n}@carrier&PJSIP/2', callerId: '"Shop" <+15550100>' } })
})

test('a goto extension must be one Asterisk can go to', () => {
  rejects({ g: { type: 'goto', context: 'c', extension: 'a b' } }, 'g', /extension 'a b' may only contain/)
  rejects({ g: { type: 'goto', context: 'bad context', extension: 's' } }, 'g', /\/context/)
  accepts({ g: { type: 'goto', context: 'from-federate', extension: '${extension}' } })
})

test('variable names are restricted and never __proto__', () => {
  const parsed = JSON.parse('{"s":{"type":"set","vars":{"__proto__":"x"},"next":"e"},"e":{"type":"hangup"}}')
  rejects(parsed, 's', /__proto__ is not an allowed field/)
  rejects({ s: { type: 'set', vars: { 'a-b': 'x' } } }, 's', /a-b is not an allowed field/)
  rejects({ g: { type: 'gather', prompts: ['q'], next: 'g', saveAs: 'a.b' } }, 'g', /\/saveAs/)
})

test('limits: at most 500 nodes and 256 KiB', () => {
  const many: Nodes = {}
  for (let i = 0; i < 501; i++) many[`n${i}`] = end
  assert.match(errorsOf(doc(many, 'n0'))[0]!.message, /501 nodes, more than the limit of 500/)
  const big = doc({ p: { type: 'play', prompts: ['a'], label: 'x'.repeat(150) } })
  ;(big as { description?: string }).description = 'y'.repeat(MAX_FLOW_BYTES)
  assert.match(errorsOf(big)[0]!.message, /more than the limit of 262144/)
  assert.match(errorsOf(JSON.stringify(big))[0]!.message, /more than the limit of 262144/)
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  assert.match(errorsOf(cyclic)[0]!.message, /cannot be written as JSON/)
})
