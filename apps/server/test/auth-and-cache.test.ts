import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { createXmlRpcClient, XmlRpcFaultError } from '@federate/xmlrpc'
import { freePort } from '@federate/testkit'
import type { ParamsOf } from '@federate/protocol'
import { startTestServer, type TestServer } from '../../../test/helpers/server.ts'

const poll = JSON.parse(await readFile(new URL('../../../examples/flows/poll.json', import.meta.url), 'utf8'))

async function publish (s: TestServer): Promise<void> {
  const res = await fetch(`${s.url}/api/v1/flows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'poll', definition: poll, numbers: ['3000'] }),
  })
  assert.equal(res.status, 201)
}

async function faultOf (p: Promise<unknown>): Promise<number> {
  try {
    await p
  } catch (err) {
    if (err instanceof XmlRpcFaultError) return err.faultCode
    throw err
  }
  throw new Error('expected a fault')
}

const start = (callId: string, instanceId = 'ast-1'): ParamsOf<'call.step'> =>
  ({ callId, instanceId, event: 'start', data: {}, channel: { extension: '3000' } })

test('instance tokens: missing, wrong and revoked tokens are refused; a token acts only for its instance', async (t) => {
  const s = await startTestServer(t, { FEDERATE_AUTH_CACHE_SEC: '0' })
  await publish(s)
  const token = await s.tokenFor('ast-1')
  const good = createXmlRpcClient({ url: s.rpcUrl, token })
  const none = createXmlRpcClient({ url: s.rpcUrl })
  const wrong = createXmlRpcClient({ url: s.rpcUrl, token: token.slice(0, -2) + 'xx' })
  t.after(() => { good.close(); none.close(); wrong.close() })

  assert.equal((await good.call('call.step', start('c1'))).action, 'amd')
  assert.equal(await faultOf(none.call('call.step', start('c2'))), 1001)
  assert.equal(await faultOf(wrong.call('call.step', start('c3'))), 1001)
  assert.equal(await faultOf(good.call('call.step', start('c4', 'ast-2'))), 1002)

  const res = await fetch(`${s.url}/api/v1/instances/ast-1/token`, { method: 'DELETE', headers: { authorization: `Bearer ${s.adminKey}` } })
  assert.deepEqual(await res.json(), { revoked: 1 })
  assert.equal(await faultOf(good.call('call.step', start('c5'))), 1001)
})

test('a tampered or foreign state token is a fault, and the server keeps serving', async (t) => {
  const s = await startTestServer(t)
  await publish(s)
  const c = createXmlRpcClient({ url: s.rpcUrl, token: await s.tokenFor('ast-1') })
  t.after(() => { c.close() })
  const r = await c.call('call.step', start('c1'))
  const [v, kid, payload, mac] = r.state.split('.')
  const flipped = payload!.slice(0, 10) + (payload![10] === 'A' ? 'B' : 'A') + payload!.slice(11)
  const step = async (state: string, callId = 'c1') => await c.call('call.step', { callId, instanceId: 'ast-1', state, event: 'amd', data: { status: 'HUMAN' }, channel: {} })
  assert.equal(await faultOf(step([v, kid, flipped, mac].join('.'))), 1101)
  assert.equal(await faultOf(step([v, 'otherkid', payload, mac].join('.'))), 1101)
  assert.equal(await faultOf(step('garbage')), 1101)
  assert.equal(await faultOf(step(r.state, 'another-call')), 1101)
  assert.equal((await step(r.state)).action, 'gather')
})

test('steps read flows through Memcached, and fail open to PostgreSQL when Memcached is down', async (t) => {
  const s = await startTestServer(t)
  await publish(s)
  const c = createXmlRpcClient({ url: s.rpcUrl, token: await s.tokenFor('ast-1') })
  t.after(() => { c.close() })
  for (let i = 0; i < 20; i++) await c.call('call.step', start(`warm-${i}`))
  const stats = (s.deps.cache as unknown as { stats: () => { hits: number, misses: number } }).stats()
  // Routes come from Memcached; flow versions from the process's own copy after the first.
  assert.ok(stats.hits >= 18, `hits ${stats.hits}`)
  assert.ok(stats.misses <= 4, `misses ${stats.misses}`)

  // A second server over the same database whose Memcached does not answer.
  const dead = await startTestServer(t, { MEMCACHED_SERVERS: `127.0.0.1:${await freePort()}` }, s.databaseUrl)
  const d = createXmlRpcClient({ url: dead.rpcUrl, token: await s.tokenFor('ast-2') })
  t.after(() => { d.close() })
  const t0 = Date.now()
  for (let i = 0; i < 20; i++) assert.equal((await d.call('call.step', start(`cold-${i}`, 'ast-2'))).action, 'amd')
  assert.ok(Date.now() - t0 < 5000, 'fail-open is quick')
  const deadStats = (dead.deps.cache as unknown as { stats: () => { failOpen: number } }).stats()
  assert.ok(deadStats.failOpen > 0, JSON.stringify(deadStats))
  const metrics = await (await fetch(`${dead.url}/metrics`)).text()
  assert.match(metrics, /fail_open/)
})

test('heartbeats tell a draining instance to drain, and to resume once it is back in service', async (t) => {
  const s = await startTestServer(t)
  const c = createXmlRpcClient({ url: s.rpcUrl, token: await s.tokenFor('ast-7') })
  t.after(() => { c.close() })
  const beat = async () => [...(await c.call('instance.heartbeat', { instanceId: 'ast-7', activeCalls: 3, capacity: 100, manifestVersion: 0, version: 't' })).commands]
  assert.deepEqual(await beat(), ['resume'])
  await s.deps.pool.query("UPDATE instances SET state = 'draining' WHERE id = 'ast-7'")
  assert.deepEqual(await beat(), ['drain'])
  await s.deps.pool.query("UPDATE instances SET state = 'ready' WHERE id = 'ast-7'")
  assert.deepEqual(await beat(), ['resume'])
  const row = await s.deps.pool.query('SELECT active_calls FROM instances WHERE id = $1', ['ast-7'])
  assert.equal(row.rows[0].active_calls, 3)
})
