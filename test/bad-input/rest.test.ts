import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { startTestServer } from '../helpers/server.ts'
import { publish, request, snapshot, STORED_TABLES } from './helpers.ts'

const poll = JSON.parse(await readFile(new URL('../../examples/flows/poll.json', import.meta.url), 'utf8'))

const SQL = "x'; DROP TABLE flows; --"
const json = 'application/json'

interface Case {
  name: string
  method: string
  path: string
  body?: string | Buffer
  type?: string
  headers?: Record<string, string>
  status: number | number[]
  message?: RegExp
}

test('bad REST requests get a 4xx with a clear message, and nothing stored changes', async (t) => {
  const s = await startTestServer(t)
  await publish(s, 'poll', poll, ['3000'])
  const flow = (over: Record<string, unknown>) => JSON.stringify({ id: 'f1', definition: poll, ...over })
  const deep = (n: number) => `{"id":"f1","definition":${'['.repeat(n)}${']'.repeat(n)}}`
  const cases: Case[] = [
    { name: 'an unknown field', method: 'POST', path: '/flows', body: flow({ owner: 'me' }), status: 400, message: /unknown field 'owner'/ },
    { name: 'an unknown field in a key', method: 'POST', path: '/keys', body: JSON.stringify({ role: 'viewer', name: 'x', scopes: ['*'] }), status: 400, message: /unknown field 'scopes'/ },
    { name: 'SQL in a flow id (body)', method: 'POST', path: '/flows', body: flow({ id: SQL }), status: 400, message: /body\/id/ },
    { name: 'SQL in a flow id (path)', method: 'GET', path: `/flows/${encodeURIComponent(SQL)}`, status: 400, message: /params\/id/ },
    { name: 'SQL in a version', method: 'GET', path: '/flows/poll/versions/1%20OR%201=1', status: 400, message: /params\/version/ },
    { name: 'markup in a number', method: 'PUT', path: `/numbers/${encodeURIComponent('<script>alert(1)</script>')}`, body: JSON.stringify({ flowId: 'poll' }), status: 400, message: /params\/number/ },
    { name: 'SQL in a number', method: 'DELETE', path: `/numbers/${encodeURIComponent("3000' OR '1'='1")}`, status: 400, message: /params\/number/ },
    { name: 'path traversal in a key id', method: 'DELETE', path: '/keys/..%2F..%2Fetc%2Fpasswd', status: 400, message: /params\/id/ },
    { name: 'a NUL in an instance id', method: 'POST', path: '/instances/ast%00-1/token', status: 400, message: /params\/id/ },
    { name: 'SQL in a bound number list', method: 'POST', path: '/flows', body: flow({ numbers: ['3001', SQL] }), status: 400, message: /body\/numbers\/1/ },
    { name: 'a __proto__ key', method: 'POST', path: '/flows', body: '{"id":"f1","definition":{},"__proto__":{"admin":true}}', status: 400 },
    { name: 'a constructor.prototype key', method: 'POST', path: '/flows', body: '{"id":"f1","definition":{"constructor":{"prototype":{"admin":true}}}}', status: 400 },
    { name: 'JSON that does not parse', method: 'POST', path: '/flows', body: '{"id": "f1", definition: }', status: 400, message: /not valid JSON/ },
    { name: 'truncated JSON', method: 'POST', path: '/flows', body: flow({}).slice(0, 60), status: 400, message: /not valid JSON/ },
    { name: 'null instead of an object', method: 'POST', path: '/flows', body: 'null', status: 400, message: /body must be object/ },
    { name: 'an array instead of an object', method: 'POST', path: '/flows', body: '[]', status: 400, message: /body must be object/ },
    { name: 'invalid UTF-8 in an id', method: 'POST', path: '/flows', body: Buffer.concat([Buffer.from('{"id":"f'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('","definition":{}}')]), status: 400, message: /body\/id/ },
    { name: 'plain text', method: 'POST', path: '/flows', body: 'id=f1', type: 'text/plain', status: [400, 415] },
    { name: 'XML', method: 'POST', path: '/flows', body: '<flow id="f1"/>', type: 'application/xml', status: 415 },
    { name: 'a form', method: 'POST', path: '/flows', body: 'id=f1&definition=x', type: 'application/x-www-form-urlencoded', status: 415 },
    { name: 'multipart', method: 'POST', path: '/flows', body: '--b\r\nContent-Disposition: form-data; name="id"\r\n\r\nf1\r\n--b--\r\n', type: 'multipart/form-data; boundary=b', status: 415 },
    { name: 'a 2 MB body', method: 'POST', path: '/flows', body: flow({ name: 'x', definition: { pad: 'p'.repeat(2 * 1024 * 1024) } }), status: 413 },
    { name: 'a 2 MB chunked body', method: 'POST', path: '/flows', body: flow({ definition: { pad: 'p'.repeat(2 * 1024 * 1024) } }), headers: { 'transfer-encoding': 'chunked' }, status: 413 },
    { name: 'a 10,000-deep definition', method: 'POST', path: '/flows', body: deep(10_000), status: 422 },
    { name: 'a version that is not a number', method: 'PUT', path: '/numbers/3000', body: JSON.stringify({ flowId: 'poll', version: 'latest' }), status: 400, message: /body\/version must be integer/ },
    { name: 'a version beyond 32 bits', method: 'PUT', path: '/numbers/3000', body: JSON.stringify({ flowId: 'poll', version: 2 ** 40 }), status: 400, message: /body\/version/ },
    { name: 'a flow that does not exist', method: 'PUT', path: '/numbers/3000', body: JSON.stringify({ flowId: 'nope' }), status: 404, message: /flow nope not found/ },
    { name: '101 numbers', method: 'POST', path: '/flows', body: flow({ numbers: Array.from({ length: 101 }, (_, i) => String(4000 + i)) }), status: 400, message: /body\/numbers/ },
    { name: 'a 10,000-character name', method: 'POST', path: '/flows', body: flow({ name: 'n'.repeat(10_000) }), status: 400, message: /body\/name/ },
    { name: 'an unknown role', method: 'POST', path: '/keys', body: JSON.stringify({ role: 'root', name: 'x' }), status: 400, message: /body\/role must be one of 'admin', 'operator', 'viewer'/ },
    { name: 'a definition that is a string', method: 'POST', path: '/flows', body: flow({ definition: 'DROP TABLE flows' }), status: 422, message: /not JSON|must be a JSON object/ },
    {
      name: 'a flow pointing at a missing node',
      method: 'POST',
      path: '/flows',
      body: flow({ definition: { ...poll, nodes: { ...poll.nodes, detect: { ...poll.nodes.detect, next: 'nowhere' } } } }),
      status: 422,
      message: /node 'detect'.*missing node 'nowhere'/,
    },
  ]

  const before = await snapshot(s.deps.pool, STORED_TABLES)
  for (const c of cases) {
    const headers: Record<string, string> = { authorization: `Bearer ${s.adminKey}`, ...c.headers }
    if (c.body !== undefined) headers['content-type'] = c.type ?? json
    const r = await request(`${s.url}/api/v1${c.path}`, { method: c.method, headers, body: c.body })
    assert.ok([c.status].flat().includes(r.status), `${c.name}: HTTP ${r.status} ${r.text.slice(0, 300)}`)
    const answer = JSON.parse(r.text) as { statusCode: number, code: string, message: string }
    assert.equal(answer.statusCode, r.status, c.name)
    assert.match(answer.code, /^(FST|FED)_/, c.name)
    assert.ok(answer.message.length > 10, `${c.name}: a message a person can act on, not ${JSON.stringify(answer.message)}`)
    if (c.message) assert.match(answer.message, c.message, c.name)
    assert.ok(r.ms < 2000, `${c.name} took ${Math.round(r.ms)} ms`)
  }
  assert.deepEqual(await snapshot(s.deps.pool, STORED_TABLES), before)

  // Strings that look like SQL or markup are data where the schema allows free text: stored as
  // sent, and nothing else changes (every query is parameterised).
  const name = "Robert'); DROP TABLE flows; -- <script>alert(1)</script>"
  const ok = await request(`${s.url}/api/v1/flows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': json },
    body: flow({ name }),
  })
  assert.equal(ok.status, 201, ok.text)
  const rows = await s.deps.pool.query<{ id: string, name: string }>('SELECT id, name FROM flows ORDER BY id')
  assert.deepEqual(rows.rows, [{ id: 'f1', name }, { id: 'poll', name: poll.name }])
})

test('without a key, a bad body is refused as unauthenticated before it is read or validated', async (t) => {
  const s = await startTestServer(t)
  for (const body of ['{"id": "f1", definition: }', JSON.stringify({ id: SQL, definition: {} }), JSON.stringify({ pad: 'p'.repeat(900_000) })]) {
    const r = await request(`${s.url}/api/v1/flows`, { method: 'POST', headers: { 'content-type': json }, body })
    assert.equal(r.status, 401, r.text)
    assert.match(JSON.parse(r.text).message, /API key is required/)
  }
  const wrong = await request(`${s.url}/api/v1/flows`, { method: 'POST', headers: { 'content-type': json, authorization: 'Bearer fed_0123456789abcdef_' + 'A'.repeat(43) }, body: '{' })
  assert.equal(wrong.status, 401, wrong.text)
  assert.match(JSON.parse(wrong.text).message, /invalid or revoked/)
})
