import { test } from 'node:test'
import assert from 'node:assert/strict'
import { DbError, ensureSigningKey, loadKeyring, rotateSigningKey } from '../src/index.ts'
import { useMigratedDatabase } from './helpers.ts'

// The keyring is global state: these tests run in order on their own database.
const db = useMigratedDatabase()

test('the keyring has one current key after migrate; rotation makes a new one current and keeps the old one verifiable', async () => {
  const { pool } = db
  const first = await loadKeyring(pool)
  assert.equal(Object.keys(first.keys).length, 1)
  assert.equal(first.keys[first.current]?.length, 32)
  assert.equal(Object.getPrototypeOf(first.keys), null)
  const hostileKid = ['__', 'proto', '__'].join('')
  assert.equal(first.keys[hostileKid], undefined, 'a hostile kid finds nothing')
  assert.equal(await ensureSigningKey(pool), null, 'nothing to do when a current key exists')

  const kid = await rotateSigningKey(pool)
  const second = await loadKeyring(pool)
  assert.equal(second.current, kid)
  assert.notEqual(kid, first.current)
  assert.deepEqual(Object.keys(second.keys).sort(), [first.current, kid].sort())
  assert.ok(second.keys[first.current]?.equals(first.keys[first.current]!))
  assert.ok(!second.keys[kid]?.equals(first.keys[first.current]!))

  // Past the grace period a retired key is no longer loaded.
  await pool.query("UPDATE signing_keys SET retired_at = now() - interval '2 days' WHERE kid = $1", [first.current])
  assert.deepEqual(Object.keys((await loadKeyring(pool)).keys), [kid])
})

test('concurrent rotations leave exactly one current key; no key at all is a typed error', async () => {
  const { pool } = db
  const kids = await Promise.all(Array.from({ length: 5 }, () => rotateSigningKey(pool)))
  assert.equal(new Set(kids).size, 5)
  const { rows } = await pool.query('SELECT kid FROM signing_keys WHERE retired_at IS NULL')
  assert.equal(rows.length, 1)
  assert.equal((await loadKeyring(pool)).current, rows[0].kid)

  await pool.query('UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL')
  await assert.rejects(loadKeyring(pool), (err: unknown) => err instanceof DbError && err.code === 'FED_DB_NO_SIGNING_KEY')
})
