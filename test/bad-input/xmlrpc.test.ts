import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { startTestServer } from '../helpers/server.ts'
import { faultOf, publish, request, str, stepXml, struct, xmlCall, type Answer } from './helpers.ts'

// The XML-RPC plugin's own tests cover the decoder in depth (packages/xmlrpc/test). These go
// through the whole server — authentication, the protocol schemas, call.step's event checks and
// the durable writes — and check that a refused request writes nothing and costs little.

const poll = JSON.parse(await readFile(new URL('../../examples/flows/poll.json', import.meta.url), 'utf8'))

const int = (n: number | string) => `<int>${n}</int>`
const deep = 10_000

interface Case { name: string, body: string | Buffer, auth?: 'none' | 'good', headers?: Record<string, string>, fault?: number, status?: number, text?: RegExp }

test('bad XML-RPC requests through the whole server get a fault or an HTTP error quickly, write nothing, and the server keeps serving', async (t) => {
  const s = await startTestServer(t)
  await publish(s, 'poll', poll, ['3000'])
  const token = await s.tokenFor('ast-1')
  const send = async (c: Pick<Case, 'body' | 'auth' | 'headers'>): Promise<Answer> => await request(s.rpcUrl, {
    body: c.body,
    headers: { 'content-type': 'text/xml', ...(c.auth === 'none' ? {} : { authorization: `Bearer ${token}` }), ...c.headers },
  })
  const good = stepXml()
  const cases: Case[] = [
    { name: 'a good step without a token', body: good, auth: 'none', fault: 1001 },
    { name: 'a good step with a wrong token', body: good, headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` }, fault: 1001 },
    { name: 'malformed XML without a token (decoded before authentication, refused all the same)', body: good.replace('</methodName>', ''), auth: 'none', fault: -32700 },
    { name: 'malformed XML', body: good.replace('</struct>', ''), fault: -32700 },
    { name: 'a truncated request', body: good.slice(0, good.length - 40), fault: -32700 },
    {
      name: 'billion laughs',
      body: '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>' + stepXml({ callId: str('&lol3;') }).replace('<?xml version="1.0"?>', ''),
      fault: -32600,
      text: /DOCTYPE/,
    },
    {
      name: 'an external entity (XXE)',
      body: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + stepXml({ callId: str('&xxe;') }).replace('<?xml version="1.0"?>', ''),
      fault: -32600,
    },
    { name: 'a 10 MB body', body: Buffer.alloc(10 * 1024 * 1024, 0x20), status: 413 },
    {
      name: 'a 2 MB chunked body (no Content-Length) is cut while it is read',
      body: Buffer.concat([Buffer.from(good.slice(0, 100)), Buffer.alloc(2 * 1024 * 1024, 0x41)]),
      headers: { 'transfer-encoding': 'chunked' },
      status: 413,
    },
    { name: '10,000-deep nesting in event data', body: stepXml({ data: `${'<array><data><value>'.repeat(deep)}x${'</value></data></array>'.repeat(deep)}` }), fault: -32600 },
    { name: 'callId as an int', body: stepXml({ callId: int(1) }), fault: -32602, text: /callId/ },
    { name: 'an unknown event', body: stepXml({ event: str('explode') }), fault: -32602, text: /event/ },
    { name: 'event data as an array', body: stepXml({ data: '<array><data><value>1</value></data></array>' }), fault: -32602, text: /data/ },
    { name: 'a channel variable as a struct', body: stepXml({ channel: struct({ extension: struct({}) }) }), fault: -32602, text: /channel/ },
    { name: 'the state as an int', body: stepXml({ state: int(7) }), fault: -32602, text: /state/ },
    { name: 'a missing event', body: stepXml({ event: undefined }), fault: -32602, text: /event/ },
    { name: 'an extra member', body: stepXml({ admin: '<boolean>1</boolean>' }), fault: -32602 },
    { name: 'the params as an array instead of a struct', body: xmlCall('call.step', '<param><value><array><data></data></array></value></param>'), fault: -32602 },
    { name: 'data the start event does not take', body: stepXml({ data: struct({ digit: str('1') }) }), fault: -32602, text: /data of event start/ },
    { name: 'digits with letters', body: stepXml({ event: str('digits'), data: struct({ digits: str('12ab'), status: str('ok') }) }), fault: -32602, text: /data of event digits/ },
    { name: 'digits as an int', body: stepXml({ event: str('digits'), data: struct({ digits: int(12), status: str('ok') }) }), fault: -32602, text: /data of event digits/ },
    { name: 'an unknown dial status', body: stepXml({ event: str('dialed'), data: struct({ status: str('MAYBE') }) }), fault: -32602, text: /data of event dialed/ },
    { name: 'a negative recording length', body: stepXml({ event: str('recorded'), data: struct({ file: str('f'), durationSec: '<double>-1</double>' }) }), fault: -32602 },
    { name: 'a 100,000-character state', body: stepXml({ state: str('v1.'.padEnd(100_000, 'A')) }), fault: -32602, text: /state/ },
    { name: 'a 50,000-character callId', body: stepXml({ callId: str('c'.repeat(50_000)) }), fault: -32602, text: /callId/ },
    { name: 'a 900 kB error message', body: stepXml({ event: str('error'), data: struct({ message: str('e'.repeat(900_000)) }) }), fault: -32602 },
    { name: 'a 2,000-character channel variable', body: stepXml({ channel: struct({ extension: str('3'.repeat(2000)) }) }), fault: -32602, text: /channel/ },
    { name: 'a forged state token', body: stepXml({ event: str('amd'), data: struct({ status: str('HUMAN') }), state: str('v1.k1.eyJub2RlIjoidm90ZSJ9.AAAA') }), fault: 1101 },
    { name: 'another instance\'s id', body: stepXml({ instanceId: str('ast-2') }), fault: 1002 },
    {
      name: 'invalid UTF-8',
      body: Buffer.concat([Buffer.from(stepXml().split('c-1')[0]!), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(stepXml().split('c-1')[1]!)]),
      fault: -32701,
    },
    { name: 'a JSON body', body: JSON.stringify({ method: 'call.step' }), headers: { 'content-type': 'application/json' }, status: 415 },
  ]
  for (const c of cases) {
    const r = await send(c)
    if (c.status !== undefined) {
      assert.equal(r.status, c.status, `${c.name}: ${r.text.slice(0, 200)}`)
    } else {
      const f = faultOf(r)
      assert.equal(f?.code, c.fault, `${c.name}: ${r.text.slice(0, 300)}`)
      if (c.text) assert.match(f!.text, c.text, c.name)
    }
    assert.ok(r.ms < 2000, `${c.name} took ${Math.round(r.ms)} ms`)
    const alive = await send({ body: xmlCall('system.listMethods') })
    assert.equal(faultOf(alive), undefined, `the server stopped serving after ${c.name}`)
  }

  // Nothing was written by any of them...
  const count = async (table: string) => (await s.deps.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]!.n
  assert.equal(await count('calls'), 0)
  assert.equal(await count('call_results'), 0)
  // ...while the same request, well-formed, is answered and stored: the cases above could have written.
  const ok = await send({ body: good })
  assert.equal(faultOf(ok), undefined, ok.text)
  assert.equal(await count('calls'), 1)
})
