/* eslint-disable no-template-curly-in-string -- flows use ${name} placeholders in plain strings */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { startTestServer } from '../helpers/server.ts'
import { request, snapshot, STORED_TABLES } from './helpers.ts'

// A table of broken flows, one per rule of the validator that guards something (the dialplan's
// arguments, the file system, the engine's termination, the SSRF guard), each published through
// the REST API of a real server: each is refused with 422 and a message naming the node.

const ivr = JSON.parse(await readFile(new URL('../../examples/flows/ivr.json', import.meta.url), 'utf8'))
type Doc = typeof ivr

function broken (edit: (d: Doc) => void): Doc {
  const d = structuredClone(ivr)
  edit(d)
  return d
}

const cases: Array<{ name: string, node: string, definition: Doc, message?: RegExp }> = [
  { name: 'an unknown node type', node: 'hours', definition: broken((d) => { d.nodes.hours.type = 'exec' }), message: /unknown type "exec"/ },
  { name: 'an unknown field in a node', node: 'welcome', definition: broken((d) => { d.nodes.welcome.shell = 'rm -rf /' }), message: /not an allowed field/ },
  { name: 'a missing required field', node: 'sales', definition: broken((d) => { delete d.nodes.sales.to }) },
  { name: 'a field of the wrong type', node: 'menu', definition: broken((d) => { d.nodes.menu.maxDigits = 'one' }) },
  { name: 'next pointing at a missing node', node: 'thanks', definition: broken((d) => { d.nodes.thanks.next = 'nowhere' }), message: /missing node 'nowhere'/ },
  { name: 'a branch pointing at a missing node', node: 'sales', definition: broken((d) => { d.nodes.sales.branches.ANSWER = 'ghost' }), message: /missing node 'ghost'/ },
  { name: 'a prompt climbing out of the sounds folder', node: 'goodbye', definition: broken((d) => { d.nodes.goodbye.prompts = ['../../../etc/passwd'] }), message: /not a safe file name/ },
  { name: 'an absolute prompt path', node: 'hours', definition: broken((d) => { d.nodes.hours.prompts = ['/etc/shadow'] }), message: /not a safe file name/ },
  { name: 'a dial string smuggling dial options', node: 'sales', definition: broken((d) => { d.nodes.sales.to = 'PJSIP/sales,,tTr(U(evil))' }), message: /no commas/ },
  { name: 'a caller id breaking the dialplan argument', node: 'sales', definition: broken((d) => { d.nodes.sales.callerId = '"x" <1>;Set(EVIL=1)' }) },
  { name: 'a regular expression that does not compile', node: 'menu', definition: broken((d) => { d.nodes.menu.validDigits = '([0-9]' }), message: /validDigits/ },
  { name: 'a malformed placeholder', node: 'voicemail', definition: broken((d) => { d.nodes.voicemail.file = 'vm-${caller id}' }) },
  { name: 'a web hook whose host is a variable', node: 'hook', definition: broken((d) => { d.nodes.hook = { type: 'http', url: 'http://${host}/steal', next: 'end' }; d.nodes.hours.next = 'hook' }), message: /literal host/ },
  { name: 'a web hook with another scheme', node: 'hook', definition: broken((d) => { d.nodes.hook = { type: 'http', url: 'file:///etc/passwd', next: 'end' }; d.nodes.hours.next = 'hook' }) },
  {
    name: 'a loop the caller can never leave',
    node: 'a',
    definition: broken((d) => {
      d.nodes.a = { type: 'set', vars: { n: '1' }, next: 'b' }
      d.nodes.b = { type: 'condition', when: [{ var: 'n', op: 'eq', value: '1', next: 'a' }], else: 'a' }
      d.nodes.hours.next = 'a'
    }),
    message: /loop without caller interaction/,
  },
  { name: 'a goto extension with spaces', node: 'out', definition: broken((d) => { d.nodes.out = { type: 'goto', context: 'default', extension: 's 1' }; d.nodes.hours.next = 'out' }) },
  { name: 'a node id with spaces', node: 'bad id', definition: broken((d) => { d.nodes['bad id'] = { type: 'hangup' } }), message: /id must match/ },
  { name: 'operator in without a list', node: 'route', definition: broken((d) => { d.nodes.route = { type: 'condition', when: [{ var: 'x', op: 'in', value: 'a', next: 'end' }], else: 'end' }; d.nodes.hours.next = 'route' }), message: /needs a list/ },
  { name: 'a digit that can never be pressed', node: 'welcome', definition: broken((d) => { d.nodes.welcome.escapeDigits = '12'; d.nodes.welcome.digits = { 1: 'sales', 9: 'hours' } }) },
]

test('broken flows are each refused with 422 and a message naming the node, and nothing is published', async (t) => {
  const s = await startTestServer(t)
  const publish = async (definition: unknown) => await request(`${s.url}/api/v1/flows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'ivr', definition, numbers: ['100'] }),
  })
  const before = await snapshot(s.deps.pool, STORED_TABLES)
  for (const c of cases) {
    const r = await publish(c.definition)
    assert.equal(r.status, 422, `${c.name}: ${r.text.slice(0, 300)}`)
    const body = JSON.parse(r.text) as { code: string, message: string }
    assert.equal(body.code, 'FED_FLOW_INVALID', c.name)
    assert.ok(body.message.includes(`node '${c.node}'`), `${c.name}: ${body.message}`)
    if (c.message) assert.match(body.message, c.message, c.name)
  }
  assert.deepEqual(await snapshot(s.deps.pool, STORED_TABLES), before)
  // The unbroken flow is accepted: the cases failed for their one defect.
  assert.equal((await publish(ivr)).status, 201)
})
