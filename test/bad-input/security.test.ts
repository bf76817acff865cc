import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { loadConfig } from '@federate/config'
import { createApiKey } from '@federate/db'
import { serverSettings } from '@federate/server'
import { startTestServer } from '../helpers/server.ts'
import { faultOf, publish, request, startRoutedServer, stepXml, str, struct } from './helpers.ts'

// The security properties the threat model (docs/security.md) relies on, checked against a real
// server: every REST route authenticates and viewers only read; credentials are stored hashed
// and compared in constant time; signed URLs are short-lived; web hooks cannot reach internal
// addresses unless an operator lists them exactly.

/** Routes anyone may call (each authenticates its own way). Keep in step with auth/default-deny.ts. */
const PUBLIC = new Set(['GET /api/v1/dashboard/stream'])
/** Write routes a viewer may call: they check the key or issue a stream ticket, and store nothing. */
const VIEWER_WRITES = new Set(['POST /api/v1/session', 'POST /api/v1/dashboard/ticket'])
const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

// A concrete URL for a route pattern: parameters get harmless valid values.
function concrete (url: string): string {
  const values: Record<string, string> = { version: '1', number: '1000' }
  return url.replace(/:([A-Za-z0-9_]+)/g, (_m, name: string) => values[name] ?? 'x1').replace(/\*$/, 'a/b')
}

test('every /api/v1 route refuses a request without a key, and every write route refuses a viewer key', async (t) => {
  // Dialer and storage on, so that their routes are registered too (nothing here reaches S3 or Redis work).
  const s = await startRoutedServer(t, { FEDERATE_DIALER: 'true', FEDERATE_STORAGE: 'true', FEDERATE_AUTH_FAILURE_LIMIT: '0' })
  const routes = s.routes
    .filter((r) => r.url.startsWith('/api/v1/') && r.method !== 'HEAD' && r.method !== 'OPTIONS')
    .map((r) => ({ ...r, key: `${r.method} ${r.url}` }))
  // Not vacuous: the routes of each area are there.
  for (const must of ['POST /api/v1/flows', 'PUT /api/v1/numbers/:number', 'POST /api/v1/keys', 'DELETE /api/v1/instances/:id/token', 'GET /api/v1/instances']) {
    assert.ok(routes.some((r) => r.key === must), `${must} is not registered: ${routes.map((r) => r.key).join(', ')}`)
  }
  for (const p of PUBLIC) assert.ok(routes.some((r) => r.key === p), `public route ${p} no longer exists: remove it from the allow-list`)

  const viewer = await createApiKey(s.deps.pool, 'viewer', 'viewer')
  const failures: string[] = []
  for (const r of routes) {
    const url = `${s.url}${concrete(r.url)}`
    // A body that would be refused if it were read: the refusal must come first.
    const body = WRITE_METHODS.has(r.method) ? '{"not":"valid for any route"' : undefined
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' }
    const anonymous = await request(url, { method: r.method, headers, body })
    if (PUBLIC.has(r.key)) {
      if (anonymous.status < 400) failures.push(`${r.key} without credentials: ${anonymous.status}`)
    } else if (anonymous.status !== 401) {
      failures.push(`${r.key} without a key: HTTP ${anonymous.status} ${anonymous.text.slice(0, 120)}`)
    }
    if (WRITE_METHODS.has(r.method) && !VIEWER_WRITES.has(r.key) && !PUBLIC.has(r.key)) {
      const asViewer = await request(url, { method: r.method, headers: { ...headers, authorization: `Bearer ${viewer.key}` }, body })
      if (asViewer.status !== 403) failures.push(`${r.key} with a viewer key: HTTP ${asViewer.status} ${asViewer.text.slice(0, 120)}`)
    }
  }
  assert.deepEqual(failures, [])
  // The viewer's exceptions do work for a viewer (and change nothing stored).
  for (const key of VIEWER_WRITES) {
    if (!routes.some((r) => r.key === key)) continue
    const r = await request(`${s.url}${key.split(' ')[1]}`, { method: 'POST', headers: { authorization: `Bearer ${viewer.key}` } })
    assert.equal(r.status, 200, `${key}: ${r.text}`)
  }
})

test('only admins manage keys and instance tokens; operators get 403', async (t) => {
  const s = await startTestServer(t)
  const operator = await createApiKey(s.deps.pool, 'operator', 'op')
  const as = async (method: string, path: string, body?: unknown) => await request(`${s.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${operator.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  for (const [method, path, body] of [['POST', '/keys', { role: 'admin', name: 'escalate' }], ['GET', '/keys'], ['DELETE', `/keys/${operator.id}`],
    ['POST', '/instances/ast-1/token'], ['DELETE', '/instances/ast-1/token']] as const) {
    const r = await as(method, path, body)
    assert.equal(r.status, 403, `${method} ${path}: ${r.text}`)
    assert.match(JSON.parse(r.text).message, /needs the admin role; the key has operator/)
  }
  const { rows } = await s.deps.pool.query('SELECT role FROM api_keys ORDER BY role')
  assert.deepEqual(rows.map((r) => r.role), ['admin', 'operator'])
})

test('the database holds no credential in plaintext: only sha256 digests, compared in constant time', async (t) => {
  const s = await startTestServer(t)
  const token = await s.tokenFor('ast-1')
  const issued = await request(`${s.url}/api/v1/instances/ast-2/token`, { method: 'POST', headers: { authorization: `Bearer ${s.adminKey}` } })
  const restToken = JSON.parse(issued.text).token as string
  const created = await request(`${s.url}/api/v1/keys`, { method: 'POST', headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ role: 'viewer', name: 'v' }) })
  const restKey = JSON.parse(created.text).key as string

  // Every table, every row, as text: no secret part in any encoding.
  const { rows: tables } = await s.deps.pool.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'")
  const dump: string[] = []
  for (const { name } of tables) {
    const { rows } = await s.deps.pool.query<{ row: string }>(`SELECT t::text AS row FROM "${name}" t`)
    dump.push(...rows.map((r) => r.row))
  }
  const all = dump.join('\n')
  for (const credential of [s.adminKey, token, restToken, restKey]) {
    const secret = credential.slice(21)
    for (const encoded of [secret, Buffer.from(secret).toString('hex'), Buffer.from(secret, 'base64url').toString('hex')]) {
      assert.ok(!all.includes(encoded), `a secret is stored in plaintext (${encoded.slice(0, 6)}...)`)
    }
  }
  // What is stored is the digest of the secret.
  const secretOf = (c: string) => c.slice(21)
  const idOf = (c: string) => c.slice(4, 20)
  const key = await s.deps.pool.query<{ key_hash: Buffer }>('SELECT key_hash FROM api_keys WHERE id = $1', [idOf(restKey)])
  assert.deepEqual(key.rows[0]!.key_hash, createHash('sha256').update(secretOf(restKey)).digest())
  const tok = await s.deps.pool.query<{ token_hash: Buffer }>('SELECT token_hash FROM instance_tokens WHERE id = $1', [idOf(token)])
  assert.deepEqual(tok.rows[0]!.token_hash, createHash('sha256').update(secretOf(token)).digest())

  // The comparison: fixed-length digests through crypto.timingSafeEqual, and no early-exit
  // string comparison of secrets anywhere in the verification code.
  const source = await readFile(new URL('../../packages/db/src/secrets.ts', import.meta.url), 'utf8')
  assert.match(source, /timingSafeEqual\(digest, storedHash\)/)
  for (const file of ['api-keys.ts', 'instance-tokens.ts']) {
    const code = await readFile(new URL(`../../packages/db/src/${file}`, import.meta.url), 'utf8')
    assert.match(code, /secretMatches\(parsed\.secret, row\.(key|token)_hash\)/, file)
    assert.doesNotMatch(code, /(secret|hash)\s*===|===\s*(parsed\.secret|row\.\w+_hash)/, file)
  }
})

test('signed URLs and tickets are short-lived by default (15 minutes at most)', () => {
  const config = loadConfig(serverSettings, { env: {} }) as unknown as Record<string, number>
  assert.ok(config.storageUrlTtlSec! <= 900, `prompt download URLs live ${config.storageUrlTtlSec} s`)
  assert.ok(config.recordingUrlTtlSec! <= 900, `recording upload URLs live ${config.recordingUrlTtlSec} s`)
  // A verified credential is remembered for seconds, so revocation is quick.
  assert.ok(config.authCacheSec! <= 30)
})

// The hook flow: start -> http (to `url`) -> a play naming where it went.
function hookFlow (url: string) {
  return {
    format: 'federate.flow/1',
    name: 'hook',
    start: 'hook',
    nodes: {
      hook: { type: 'http', url, timeoutMs: 1000, saveAs: 'hook', next: 'reached', onError: 'refused' },
      reached: { type: 'play', prompts: ['reached'], next: 'end' },
      refused: { type: 'play', prompts: ['refused'], next: 'end' },
      end: { type: 'hangup' },
    },
  }
}

test('a flow\'s web hook cannot reach loopback or metadata addresses unless the exact host is allowed', async (t) => {
  let hits = 0
  const listener = http.createServer((_req, res) => { hits++; res.end('{"ok":true}') })
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  t.after(() => { listener.close() })
  const port = (listener.address() as AddressInfo).port

  const stepTo = async (s: Awaited<ReturnType<typeof startTestServer>>, number: string): Promise<string> => {
    const token = await s.tokenFor('ast-1')
    const r = await request(s.rpcUrl, {
      headers: { 'content-type': 'text/xml', authorization: `Bearer ${token}` },
      body: stepXml({ callId: str(`c-${number}`), channel: struct({ extension: str(number) }) }),
    })
    assert.equal(faultOf(r), undefined, r.text)
    return /<string>(reached|refused)<\/string>/.exec(r.text)?.[1] ?? r.text
  }

  // Everything public allowed ('*'): internal addresses are still refused, whatever their spelling.
  const open = await startTestServer(t, { FEDERATE_HTTP_ALLOW: '*' })
  const internal = [
    `http://127.0.0.1:${port}/hook`,
    `http://localhost:${port}/hook`,
    `http://2130706433:${port}/hook`, // 127.0.0.1 as one number
    `http://0x7f.1:${port}/hook`,
    `http://[::ffff:127.0.0.1]:${port}/hook`,
    `http://[::1]:${port}/hook`,
    `http://0.0.0.0:${port}/hook`,
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'http://[fd00:ec2::254]/latest/meta-data/',
    'http://metadata.google.internal/computeMetadata/v1/',
  ]
  for (const [i, url] of internal.entries()) {
    const number = String(5000 + i)
    await publish(open, `hook${i}`, hookFlow(url), [number])
    assert.equal(await stepTo(open, number), 'refused', url)
  }
  assert.equal(hits, 0, 'the local listener was reached')

  // The exact host:port allowed: the same hook reaches the listener.
  const exact = await startTestServer(t, { FEDERATE_HTTP_ALLOW: `127.0.0.1:${port}` })
  await publish(exact, 'hook', hookFlow(`http://127.0.0.1:${port}/hook`), ['6000'])
  assert.equal(await stepTo(exact, '6000'), 'reached')
  assert.equal(hits, 1)
  // Allowing one host opens no other: the metadata address stays refused.
  await publish(exact, 'meta', hookFlow('http://169.254.169.254/latest/meta-data/'), ['6001'])
  assert.equal(await stepTo(exact, '6001'), 'refused')
  assert.equal(hits, 1)
})
