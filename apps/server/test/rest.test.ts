import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { createApiKey } from '@federate/db'
import { startTestServer } from '../../../test/helpers/server.ts'

const ivr = JSON.parse(await readFile(new URL('../../../examples/flows/ivr.json', import.meta.url), 'utf8'))

test('the REST API enforces roles route by route and refuses bad flows with the node named', async (t) => {
  const s = await startTestServer(t)
  const viewer = (await createApiKey(s.deps.pool, 'viewer', 'v')).key
  const operator = (await createApiKey(s.deps.pool, 'operator', 'o')).key
  const api = async (method: string, path: string, key: string | undefined, body?: unknown) => {
    const res = await fetch(`${s.url}/api/v1${path}`, {
      method,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : null }
  }

  assert.equal((await api('GET', '/flows', undefined)).status, 401)
  assert.equal((await api('GET', '/flows', 'fed_nope_nope')).status, 401)
  assert.deepEqual((await api('GET', '/flows', viewer)).body, [])
  const denied = await api('POST', '/flows', viewer, { id: 'ivr', definition: ivr })
  assert.equal(denied.status, 403)
  assert.equal(denied.body.code, 'FED_AUTH_FORBIDDEN')

  const created = await api('POST', '/flows', operator, { id: 'ivr', definition: ivr, numbers: ['100'] })
  assert.equal(created.status, 201)
  assert.equal(created.body.version, 1)
  const again = await api('POST', '/flows', operator, { id: 'ivr', definition: ivr })
  assert.equal(again.body.version, 2)

  const broken = structuredClone(ivr)
  broken.nodes.menu.branches['1'] = 'nowhere'
  const rejected = await api('POST', '/flows', operator, { id: 'ivr', definition: broken })
  assert.equal(rejected.status, 422)
  assert.equal(rejected.body.code, 'FED_FLOW_INVALID')
  assert.match(rejected.body.message, /menu/)
  assert.match(rejected.body.message, /nowhere/)
  assert.equal((await api('GET', '/flows/ivr', viewer)).body.version, 2, 'a rejected flow publishes nothing')

  // Unknown fields, wrong types and injection strings are refused by schema; nothing changes.
  assert.equal((await api('POST', '/flows', operator, { id: 'ivr', definition: ivr, admin: true })).status, 400)
  assert.equal((await api('POST', '/flows', operator, { id: "x'; DROP TABLE flows;--", definition: ivr })).status, 400)
  assert.equal((await api('PUT', '/numbers/200', operator, { flowId: 'ivr', version: 'two' })).status, 400)
  assert.equal((await api('PUT', '/numbers/200', operator, { flowId: 'missing' })).status, 404)
  assert.equal((await api('GET', '/flows/ivr/versions/9', viewer)).status, 404)

  const bound = await api('PUT', '/numbers/200', operator, { flowId: 'ivr', version: 1 })
  assert.equal(bound.status, 200)
  assert.equal(bound.body.version, 1)
  assert.equal((await api('GET', '/numbers', viewer)).body.length, 2)
  assert.equal((await api('DELETE', '/numbers/200', viewer)).status, 403)
  assert.equal((await api('DELETE', '/numbers/200', operator)).status, 204)
  assert.equal((await api('DELETE', '/numbers/200', operator)).status, 404)

  // Keys and tokens are the admin's.
  assert.equal((await api('POST', '/keys', operator, { role: 'admin', name: 'x' })).status, 403)
  const k = await api('POST', '/keys', s.adminKey, { role: 'viewer', name: 'dash' })
  assert.equal(k.status, 201)
  assert.match(k.body.key, /^fed_/)
  assert.ok(!JSON.stringify((await api('GET', '/keys', s.adminKey)).body).includes(k.body.key), 'keys are never listed')
  assert.equal((await api('POST', '/instances/ast-9/token', operator)).status, 403)
  assert.match((await api('POST', '/instances/ast-9/token', s.adminKey)).body.token, /^fit_/)
})

test('health, readiness, metrics and OpenAPI docs answer', async (t) => {
  const s = await startTestServer(t)
  assert.deepEqual(await (await fetch(`${s.url}/healthz`)).json(), { ok: true })
  const ready = await fetch(`${s.url}/readyz`)
  assert.equal(ready.status, 200)
  assert.equal((await ready.json() as { database: boolean }).database, true)
  const metrics = await (await fetch(`${s.url}/metrics`)).text()
  assert.match(metrics, /federate_rpc_duration_seconds/)
  assert.match(metrics, /federate_process_cpu_seconds_total/)
  const spec = await (await fetch(`${s.url}/docs/json`)).json() as { paths: Record<string, unknown> }
  assert.ok(spec.paths['/api/v1/flows'], Object.keys(spec.paths).join(','))
})
