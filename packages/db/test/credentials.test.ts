import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  createApiKey, DbError, issueInstanceToken, listApiKeys, revokeApiKey, revokeInstanceTokens, verifyApiKey, verifyInstanceToken,
} from '../src/index.ts'
import { suffix } from '@federate/testkit'
import { useMigratedDatabase } from './helpers.ts'

const db = useMigratedDatabase()

// Flips one character of the secret part, keeping the token well-formed.
function tamper (token: string): string {
  const last = token.at(-1) === 'A' ? 'B' : 'A'
  return token.slice(0, -1) + last
}

test('an instance token verifies to its instance; a wrong secret, another id or a malformed token do not', async () => {
  const { pool } = db
  const u = suffix()
  const token = await issueInstanceToken(pool, `i-1-${u}`)
  assert.match(token, /^fit_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/)
  assert.equal(await verifyInstanceToken(pool, token), `i-1-${u}`)

  assert.equal(await verifyInstanceToken(pool, tamper(token)), null)
  const otherId = token.replace(/^fit_[0-9a-f]{16}/, 'fit_0123456789abcdef')
  assert.equal(await verifyInstanceToken(pool, otherId), null)
  for (const bad of ['', 'fit_', 'fit_x_y', token + 'x', token.replace('fit_', 'fed_'), token.toUpperCase(), undefined, null, 42, { token }]) {
    assert.equal(await verifyInstanceToken(pool, bad), null, `refuses ${JSON.stringify(bad)}`)
  }
  // Only the hash is stored.
  const { rows } = await pool.query('SELECT token_hash FROM instance_tokens WHERE instance_id = $1', [`i-1-${u}`])
  assert.equal(rows.length, 1)
  assert.ok(!token.includes(rows[0].token_hash.toString('base64url')))
  await assert.rejects(issueInstanceToken(pool, 'no spaces allowed'), DbError)
})

test('revoking an instance\'s tokens refuses all of them and leaves other instances alone', async () => {
  const { pool } = db
  const u = suffix()
  const a1 = await issueInstanceToken(pool, `i-a-${u}`)
  const a2 = await issueInstanceToken(pool, `i-a-${u}`)
  const b = await issueInstanceToken(pool, `i-b-${u}`)
  assert.equal(await revokeInstanceTokens(pool, `i-a-${u}`), 2)
  assert.equal(await revokeInstanceTokens(pool, `i-a-${u}`), 0)
  assert.equal(await verifyInstanceToken(pool, a1), null)
  assert.equal(await verifyInstanceToken(pool, a2), null)
  assert.equal(await verifyInstanceToken(pool, b), `i-b-${u}`)
  assert.equal(await revokeInstanceTokens(pool, 'ghost'), 0)
})

test('API keys carry a role, verify, record their use, list without secrets and can be revoked', async () => {
  const { pool } = db
  const admin = await createApiKey(pool, 'admin', 'ops team')
  const viewer = await createApiKey(pool, 'viewer', 'dashboard')
  const mine = (keys: Array<{ id: string }>) => keys.map((k) => k.id).filter((id) => id === admin.id || id === viewer.id)
  assert.match(admin.key, /^fed_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/)
  assert.deepEqual(await verifyApiKey(pool, admin.key), { id: admin.id, role: 'admin', name: 'ops team' })
  assert.deepEqual(await verifyApiKey(pool, viewer.key), { id: viewer.id, role: 'viewer', name: 'dashboard' })
  assert.equal(await verifyApiKey(pool, tamper(admin.key)), null)
  assert.equal(await verifyApiKey(pool, admin.key.replace('fed_', 'fit_')), null, 'an instance token prefix is not an API key')
  assert.equal(await verifyApiKey(pool, 'Bearer ' + admin.key), null)

  const listed = await listApiKeys(pool)
  assert.deepEqual(mine(listed).sort(), [admin.id, viewer.id].sort())
  assert.ok(listed.find((k) => k.id === admin.id)?.lastUsedAt instanceof Date, 'use recorded')
  assert.ok(!JSON.stringify(listed).includes('hash'), 'no secret material listed')

  assert.equal(await revokeApiKey(pool, admin.id), true)
  assert.equal(await revokeApiKey(pool, admin.id), false)
  assert.equal(await revokeApiKey(pool, 'ghost'), false)
  assert.equal(await verifyApiKey(pool, admin.key), null)
  assert.deepEqual(mine(await listApiKeys(pool)), [viewer.id])
  assert.equal(mine(await listApiKeys(pool, { includeRevoked: true })).length, 2)
})

test('an API key with an unknown role or no name is refused', async () => {
  const { pool } = db
  const invalid = (err: unknown) => err instanceof DbError && err.code === 'FED_DB_INVALID_INPUT'
  await assert.rejects(createApiKey(pool, 'root' as 'admin', 'x'), invalid)
  await assert.rejects(createApiKey(pool, 'ADMIN' as 'admin', 'x'), invalid)
  const before = (await listApiKeys(pool, { includeRevoked: true })).length
  await assert.rejects(createApiKey(pool, 'viewer', ''), invalid)
  assert.equal((await listApiKeys(pool, { includeRevoked: true })).length, before, 'nothing stored')
  await assert.rejects(pool.query("INSERT INTO api_keys (id, name, role, key_hash) VALUES ('0123456789abcdef', 'x', 'root', decode(repeat('00', 32), 'hex'))"), /check constraint/)
})
