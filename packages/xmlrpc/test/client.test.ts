import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { Socket } from 'node:net'
import Type from 'typebox'
import { FaultError } from '@federate/protocol'
import { freePort } from '@federate/testkit'
import { createXmlRpcClient, XmlRpcClientError, XmlRpcFaultError, encodeMethodResponse } from '../src/index.ts'
import { buildApp, plain } from './helpers.ts'

type After = { after: (fn: () => Promise<void> | void) => void }

async function server (t: After) {
  let release: () => void = () => {}
  const released = new Promise<void>((resolve) => { release = resolve })
  const connections: Socket[] = []
  const built = await buildApp({
    authenticate: (request) => {
      const header = request.headers.authorization
      if (header === undefined) return undefined
      if (header !== 'Bearer t0ken') throw new FaultError('UNAUTHORIZED')
      return { instanceId: 'i-7' }
    },
  }, (registry) => {
    registry.register('slow', { positional: true, params: Type.Array(Type.Unknown()), result: Type.Boolean(), handler: async () => { await released; return true } })
  })
  // The slow handler waits for the test to end; release it before closing.
  t.after(async () => { release(); await built.app.close() })
  built.app.server.on('connection', (socket: Socket) => connections.push(socket))
  await built.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = built.app.server.address() as { port: number }
  return { ...built, port, url: `http://127.0.0.1:${port}/RPC2`, connections }
}

function client (t: After, options: Parameters<typeof createXmlRpcClient>[0]) {
  const c = createXmlRpcClient(options)
  t.after(() => c.close())
  return c
}

const callEnd = { callId: 'c-1', instanceId: 'i-1', cause: '16', durationSec: 12.5, billSec: 10 }

test('a typed protocol call resolves with its result; a fault rejects with XmlRpcFaultError', async (t) => {
  const { url } = await server(t)
  const c = client(t, { url })
  const ok = await c.call('call.end', callEnd)
  assert.deepEqual(plain(ok), { ok: true })
  await assert.rejects(c.call('call.end', { ...callEnd, billSec: -1 }), (err: unknown) => {
    assert.ok(err instanceof XmlRpcFaultError)
    assert.equal(err.faultCode, -32602)
    assert.match(err.faultString, /\/billSec/)
    assert.equal(err.retryable, false)
    return true
  })
  await assert.rejects(c.callPositional('boom', []), (err: unknown) => err instanceof XmlRpcFaultError && err.faultCode === -32603 && err.retryable)
  assert.equal(await c.callPositional('add', [40, 2]), 42)
  assert.ok((await c.callPositional('system.listMethods', []) as string[]).includes('call.end'))
})

test('the bearer token is sent and reaches the handler as ctx.auth', async (t) => {
  const { url } = await server(t)
  assert.equal(await client(t, { url, token: 't0ken' }).callPositional('whoami', []), 'i-7')
  await assert.rejects(client(t, { url, token: 'wrong' }).callPositional('whoami', []), { faultCode: 1001 })
})

test('sequential and concurrent calls reuse keep-alive connections', async (t) => {
  const { url, connections } = await server(t)
  const c = client(t, { url })
  for (let i = 0; i < 20; i++) assert.equal(await c.callPositional('add', [i, 1]), i + 1)
  assert.equal(connections.length, 1, 'twenty sequential calls share one connection')
  for (let round = 0; round < 3; round++) {
    await Promise.all(Array.from({ length: 5 }, (_, i) => c.callPositional('add', [i, i])))
  }
  assert.ok(connections.length <= 5, `${connections.length} connections for 5-wide bursts`)
})

test('a call with no answer within timeoutMs rejects with FED_XMLRPC_TIMEOUT, sentMaybe', async (t) => {
  const { url } = await server(t)
  const c = client(t, { url, timeoutMs: 150 })
  const started = performance.now()
  await assert.rejects(c.callPositional('slow', []), (err: unknown) => {
    assert.ok(err instanceof XmlRpcClientError)
    assert.equal(err.code, 'FED_XMLRPC_TIMEOUT')
    assert.equal(err.sentMaybe, true)
    assert.equal(err.retryable, true)
    return true
  })
  const elapsed = performance.now() - started
  assert.ok(elapsed >= 140 && elapsed < 1000, `${elapsed} ms`)
  assert.equal(await c.callPositional('add', [1, 1]), 2, 'the client works after a timeout')
})

test('connection refused is FED_XMLRPC_CONNECT_FAILED: retryable and never sent', async (t) => {
  const port = await freePort()
  const c = client(t, { url: `http://127.0.0.1:${port}/RPC2` })
  await assert.rejects(c.call('call.end', callEnd), (err: unknown) => {
    assert.ok(err instanceof XmlRpcClientError)
    assert.equal(err.code, 'FED_XMLRPC_CONNECT_FAILED')
    assert.equal(err.sentMaybe, false)
    assert.equal(err.retryable, true)
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED')
    return true
  })
})

test('a connection that never completes is FED_XMLRPC_CONNECT_TIMEOUT after connectTimeoutMs', async (t) => {
  // Like a SYN into a black hole: a socket that stays "connecting" forever.
  class BlackHoleAgent extends http.Agent {
    createConnection (): Socket {
      const socket = new Socket()
      ;(socket as { connecting: boolean }).connecting = true
      return socket
    }
  }
  const agent = new BlackHoleAgent()
  t.after(() => agent.destroy())
  const c = client(t, { url: 'http://192.0.2.1/RPC2', agent, connectTimeoutMs: 100, timeoutMs: 5000 })
  const started = performance.now()
  await assert.rejects(c.call('call.end', callEnd), (err: unknown) => {
    assert.ok(err instanceof XmlRpcClientError)
    assert.equal(err.code, 'FED_XMLRPC_CONNECT_TIMEOUT')
    assert.equal(err.sentMaybe, false)
    assert.equal(err.retryable, true)
    return true
  })
  assert.ok(performance.now() - started < 1000)
})

test('HTTP errors, unreadable answers and schema-breaking results are told apart', async (t) => {
  const port = await freePort()
  const raw = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      if (req.url === '/503') { res.writeHead(503).end(); return }
      if (req.url === '/garbage') { res.writeHead(200, { 'content-type': 'text/xml' }).end('<html>oops'); return }
      if (req.url === '/cut') { res.writeHead(200, { 'content-type': 'text/xml', 'content-length': '1000' }).end('<?xml'); res.destroy(); return }
      // A well-formed answer that breaks the heartbeat result schema.
      res.writeHead(200, { 'content-type': 'text/xml' }).end(encodeMethodResponse({ commands: ['explode'], manifestVersion: 1 }))
    })
  })
  await new Promise<void>((resolve) => raw.listen(port, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => { raw.closeAllConnections(); raw.close(() => resolve()) }))
  const { url } = await server(t)
  const base = `http://127.0.0.1:${port}`
  const hb = { instanceId: 'i', activeCalls: 0, capacity: 10, manifestVersion: 1, version: '1' }

  await assert.rejects(client(t, { url: url.replace('/RPC2', '/nope') }).call('call.end', callEnd),
    { code: 'FED_XMLRPC_HTTP_STATUS', statusCode: 404, sentMaybe: false, retryable: false })
  await assert.rejects(client(t, { url: `${base}/503` }).call('call.end', callEnd),
    { code: 'FED_XMLRPC_HTTP_STATUS', statusCode: 503, retryable: true })
  await assert.rejects(client(t, { url: `${base}/garbage` }).call('call.end', callEnd),
    { code: 'FED_XMLRPC_BAD_RESPONSE', sentMaybe: true, retryable: false })
  await assert.rejects(client(t, { url: `${base}/cut` }).call('call.end', callEnd),
    { code: 'FED_XMLRPC_CONNECTION_LOST', sentMaybe: true, retryable: true })
  await assert.rejects(client(t, { url: `${base}/schema`, validateResults: true }).call('instance.heartbeat', hb),
    { code: 'FED_XMLRPC_BAD_RESPONSE' })
  // Without validateResults the newer-server-tolerant default passes the value through.
  assert.deepEqual(plain(await client(t, { url: `${base}/schema` }).call('instance.heartbeat', hb)), { commands: ['explode'], manifestVersion: 1 })
})

test('params XML-RPC cannot carry are refused before anything is sent', async (t) => {
  const { url, connections } = await server(t)
  const c = client(t, { url })
  for (const bad of [{ x: NaN }, { x: 2 ** 31 }, { x: 1n }, { x: 'bell\u0007' }, { x: new Map() }]) {
    await assert.rejects(c.call('echo', bad as Record<string, unknown>), { code: 'FED_XMLRPC_BAD_PARAMS', sentMaybe: false, retryable: false })
  }
  assert.equal(connections.length, 0)
})

test('close() aborts calls in flight, is idempotent, and later calls fail with FED_XMLRPC_CLOSED', async (t) => {
  const { url } = await server(t)
  const c = createXmlRpcClient({ url })
  const pending = c.callPositional('slow', [])
  await new Promise((resolve) => setImmediate(resolve))
  await c.close()
  await c.close()
  await assert.rejects(pending, { code: 'FED_XMLRPC_CLOSED' })
  await assert.rejects(c.callPositional('add', [1, 2]), { code: 'FED_XMLRPC_CLOSED', sentMaybe: false })
})
