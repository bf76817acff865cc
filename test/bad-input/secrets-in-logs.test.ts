import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createLogger, scrubSecrets } from '@federate/server'
import { request, startRoutedServer } from './helpers.ts'

// Runs the server's real logger configuration (createLogger, as main.ts does) into a captured
// stream, makes it log credentials and connection strings the ways they actually reach logs,
// and checks that no secret comes out while the log lines themselves do.

function capture () {
  const lines: string[] = []
  return { lines, destination: { write (s: string) { lines.push(s) } } }
}

test('the server\'s logs never carry bearer tokens, API keys, instance tokens or connection-string passwords', async (t) => {
  const { lines, destination } = capture()
  const logger = createLogger({ level: 'debug' }, destination)
  const s = await startRoutedServer(t, {}, { logger })
  const token = await s.tokenFor('ast-1')
  const adminSecret = s.adminKey.slice(21) // fed_<16 hex id>_<secret>
  const tokenSecret = token.slice(21)
  const querySecret = 'q-SECRET-0f9e8d7c6b5a'

  // Requests: a good key with a token in the query string, a wrong key, an X-API-Key header.
  assert.equal((await request(`${s.url}/api/v1/flows?token=${querySecret}`, { headers: { authorization: `Bearer ${s.adminKey}` } })).status, 200)
  const wrongKey = `fed_0123456789abcdef_${'W'.repeat(40)}xyz`
  assert.equal((await request(`${s.url}/api/v1/flows`, { headers: { authorization: `Bearer ${wrongKey}` } })).status, 401)
  assert.equal((await request(`${s.url}/api/v1/flows`, { headers: { 'x-api-key': s.adminKey } })).status, 200)

  // What code elsewhere logs: a request with its headers, a dependency error quoting its URL
  // (with a cause), the configuration, a token in a message.
  const dbUrl = 'postgres://federate:hunter2-db@db.internal:5432/federate'
  const redisUrl = 'redis://:s3cr3t-redis@cache.internal:6379/0'
  const log = logger.child({ module: 'test' })
  log.info({ req: { method: 'POST', url: `/RPC2?key=${querySecret}`, headers: { authorization: `Bearer ${token}`, 'x-api-key': s.adminKey, cookie: 'session=abc123cookie' } } }, 'incoming')
  log.info({ headers: { authorization: `Bearer ${token}` } }, 'raw headers')
  const err = new Error(`connect ECONNREFUSED ${dbUrl}`, { cause: new Error(`cannot reach ${redisUrl}`) })
  log.error({ err }, `database unavailable at ${dbUrl}`)
  log.warn({ config: { databaseUrl: dbUrl, redisUrl, logLevel: 'info' } }, 'configuration')
  log.warn({ token, key: s.adminKey, secret: 'plain-secret-value', password: 'pw-value-123' }, 'credential fields')
  log.warn(`instance presented ${token} and operator ${s.adminKey}; Authorization: Bearer ${tokenSecret}`)

  const text = lines.join('')
  for (const secret of [adminSecret, tokenSecret, querySecret, 'hunter2-db', 's3cr3t-redis', 'abc123cookie', 'plain-secret-value', 'pw-value-123', 'W'.repeat(40)]) {
    assert.ok(!text.includes(secret), `${secret} appears in the logs:\n${lines.filter((l) => l.includes(secret)).join('')}`)
  }
  // The lines were written, with what an operator needs (ids, hosts, messages) left readable.
  assert.ok(lines.some((l) => /"url":"\/api\/v1\/flows\?token=\[redacted\]"/.test(l)), 'the request line, its query token redacted')
  assert.ok(lines.some((l) => /invalid or revoked/.test(l)), 'the refused key is logged as refused')
  assert.ok(text.includes('postgres://federate:[redacted]@db.internal:5432/federate'), 'the database host stays readable')
  assert.ok(text.includes('redis://:[redacted]@cache.internal:6379/0'), 'the cause is scrubbed too')
  assert.ok(text.includes(`${token.slice(0, 21)}[redacted]`), 'a token keeps its id, for tracing')
  assert.ok(lines.some((l) => l.includes('"msg":"credential fields"') && l.includes('"token":"[redacted]"')))
})

test('scrubSecrets leaves ordinary text alone', () => {
  for (const text of ['call c-1 stepped to vote', 'flow poll@3 published', 'https://crm.example.com/hook?n=15550001', 'key prompts/intro.wav synced', 'postgres://db.internal:5432/federate']) {
    assert.equal(scrubSecrets(text), text)
  }
  assert.equal(scrubSecrets('GET /x?api_key=abc&n=1'), 'GET /x?api_key=[redacted]&n=1')
  assert.equal(scrubSecrets('https://b.s3.amazonaws.com/k?X-Amz-Signature=abcdef&X-Amz-Expires=300'), 'https://b.s3.amazonaws.com/k?X-Amz-Signature=[redacted]&X-Amz-Expires=300')
})
