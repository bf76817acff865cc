import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { startTestServer } from '../helpers/server.ts'
import { faultOf, publish, request, stepXml, str, struct, xmlCall } from './helpers.ts'

// The server runs in this process (startTestServer), so its heap is ours to measure. A collector
// to call makes the bound tight; without one, the bound has to allow for garbage not yet collected.
function collector (): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc')
    return runInNewContext('gc') as () => void
  } catch {
    return undefined
  }
}

const poll = JSON.parse(await readFile(new URL('../../examples/flows/poll.json', import.meta.url), 'utf8'))

test('200 mixed bad requests leave the server\'s heap where it was, and it keeps serving', async (t) => {
  const s = await startTestServer(t, { FEDERATE_AUTH_FAILURE_LIMIT: '1000' })
  await publish(s, 'poll', poll, ['3000'])
  const token = await s.tokenFor('ast-1')
  const rpc = (body: string | Buffer, auth = `Bearer ${token}`) => async () => await request(s.rpcUrl, { headers: { 'content-type': 'text/xml', authorization: auth }, body })
  const rest = (method: string, path: string, body?: string | Buffer, type = 'application/json', key = s.adminKey) => async () =>
    await request(`${s.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': type }) }, body })
  const deep = 5000
  const kinds = [
    rpc(stepXml().slice(0, 150)),
    rpc('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]><methodCall><methodName>&a;</methodName></methodCall>'),
    rpc(stepXml({ data: `${'<array><data><value>'.repeat(deep)}${'</value></data></array>'.repeat(deep)}` })),
    rpc(Buffer.alloc(2 * 1024 * 1024, 0x20)),
    rpc(stepXml({ event: str('error'), data: struct({ message: str('e'.repeat(500_000)) }) })),
    rpc(stepXml({ callId: '<int>1</int>' })),
    rpc(xmlCall('no.such.method')),
    rpc(stepXml(), `Bearer fit_0123456789abcdef_${'B'.repeat(43)}`),
    rest('POST', '/flows', '{"id":"x",'),
    rest('POST', '/flows', JSON.stringify({ id: 'x', definition: { pad: 'p'.repeat(2 * 1024 * 1024) } })),
    rest('POST', '/flows', JSON.stringify({ id: 'x', definition: { format: 'federate.flow/1', name: 'x', start: 'a', nodes: { a: { type: 'exec' } } } })),
    rest('GET', `/flows/${encodeURIComponent("'; DROP TABLE flows;--")}`),
    rest('PUT', '/numbers/3000', JSON.stringify({ flowId: 'poll', version: 'x' })),
    rest('GET', '/flows', undefined, 'application/json', `fed_0123456789abcdef_${'C'.repeat(43)}`),
    rest('POST', '/flows', '<flow/>', 'application/xml'),
  ]
  const run = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const r = await kinds[i % kinds.length]!()
      assert.ok(r.status >= 200 && r.status < 500, `request ${i}: ${r.status} ${r.text.slice(0, 200)}`)
    }
  }
  const gc = collector()
  await run(2 * kinds.length) // warm up: compile, fill caches and pools
  gc?.(); gc?.()
  const before = process.memoryUsage().heapUsed
  const started = performance.now()
  await run(200)
  const ms = performance.now() - started
  gc?.(); gc?.()
  const growth = process.memoryUsage().heapUsed - before
  const bound = gc ? 16 * 1024 * 1024 : 96 * 1024 * 1024
  t.diagnostic(`200 bad requests in ${Math.round(ms)} ms; heap ${growth >= 0 ? '+' : ''}${(growth / 1024 / 1024).toFixed(1)} MB (bound ${bound / 1024 / 1024} MB, gc ${gc ? 'forced' : 'not available'})`)
  assert.ok(growth < bound, `heap grew by ${(growth / 1024 / 1024).toFixed(1)} MB`)

  const ok = await request(s.rpcUrl, { headers: { 'content-type': 'text/xml', authorization: `Bearer ${token}` }, body: stepXml() })
  assert.equal(faultOf(ok), undefined, ok.text)
})
