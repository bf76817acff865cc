import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { HttpOutcome } from '@federate/flows'
import { performHttp, type Lookup } from '../src/rpc/http-hook.ts'

const errorOf = (o: HttpOutcome): string => 'error' in o ? o.error : ''

// The web hook's SSRF guard checks the addresses the connection itself resolves (no separate
// lookup before it that a DNS answer could change in between: DNS rebinding).

async function listener (t: import('node:test').TestContext) {
  const state = { hits: 0 }
  const server = http.createServer((req, res) => {
    state.hits++
    let body = ''
    req.on('data', (c) => { body += c })
    req.on('end', () => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ method: req.method, body, host: req.headers.host })) })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.close() })
  return { port: (server.address() as AddressInfo).port, state }
}

// A resolver that answers each call with the next of `answers` (the last one repeats).
function rebinding (answers: string[]) {
  const calls: string[] = []
  const lookup: Lookup = (hostname, options, callback) => {
    calls.push(hostname)
    const address = answers[Math.min(calls.length - 1, answers.length - 1)]!
    if (options.all) callback(null, [{ address, family: 4 }])
    else callback(null, address, 4)
  }
  return { lookup, calls }
}

const get = (url: string) => ({ url, method: 'GET' as const, timeoutMs: 500, headers: {} })

test('a host that resolves to loopback for the connection is refused, and nothing reaches the listener', async (t) => {
  const { port, state } = await listener(t)
  const dns = rebinding(['127.0.0.1'])
  const out = await performHttp(get(`http://rebind.example:${port}/hook`), ['*'], 1000, { lookup: dns.lookup })
  assert.match(errorOf(out), /not allowed: rebind\.example resolves to internal address 127\.0\.0\.1/)
  assert.equal(state.hits, 0)
  assert.deepEqual(dns.calls, ['rebind.example'])
})

test('the address checked is the address connected to: one lookup, made by the connection', async (t) => {
  const { port, state } = await listener(t)
  // A name that answers a public address first and loopback after: a check made by a lookup of
  // its own, then a connection resolving again, would have reached the listener.
  const dns = rebinding(['192.0.2.10', '127.0.0.1'])
  const out = await performHttp(get(`http://rebind.example:${port}/hook`), ['*'], 300, { lookup: dns.lookup })
  assert.ok(errorOf(out), 'the public documentation address is not reachable here')
  assert.equal(state.hits, 0)
  assert.deepEqual(dns.calls, ['rebind.example'], 'resolved once')
})

test('internal IP literals are refused without a lookup; an exactly allowed host is reached with its body', async (t) => {
  const { port, state } = await listener(t)
  const dns = rebinding(['127.0.0.1'])
  for (const url of [`http://127.0.0.1:${port}/`, 'http://169.254.169.254/latest/meta-data/', `http://[::1]:${port}/`]) {
    const out = await performHttp(get(url), ['*'], 1000, { lookup: dns.lookup })
    assert.match(errorOf(out), /not allowed/, url)
  }
  assert.deepEqual(dns.calls, [])
  assert.equal(state.hits, 0)
  // Allowed exactly: the operator's own internal service.
  const out = await performHttp({ url: `http://hooks.internal:${port}/x`, method: 'POST', timeoutMs: 1000, headers: { 'content-type': 'application/json' }, body: '{"a":1}' },
    [`hooks.internal:${port}`], 1000, { lookup: dns.lookup })
  assert.ok('status' in out, errorOf(out))
  assert.equal(out.status, 200)
  assert.deepEqual(JSON.parse(out.body!), { method: 'POST', body: '{"a":1}', host: `hooks.internal:${port}` })
  assert.equal(state.hits, 1)
})

test('a slow hook times out and a name that does not resolve says so', async (t) => {
  const server = http.createServer(() => { /* never answers */ })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.closeAllConnections(); server.close() })
  const port = (server.address() as AddressInfo).port
  const slow = await performHttp(get(`http://127.0.0.1:${port}/`), [`127.0.0.1:${port}`], 200)
  assert.deepEqual(slow, { error: 'timed out after 200 ms', timeout: true })
  const missing = await performHttp(get('http://no-such-host.invalid/'), ['*'], 1000)
  assert.match(errorOf(missing), /^cannot resolve no-such-host\.invalid: /)
})
