import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import pg from 'pg'
import { databaseUrl, freePort, suffix, waitFor } from '@federate/testkit'
import { createPool, DbError, isConnectionError, loadKeyring, migrate, MIGRATIONS_DIR } from '../src/index.ts'
import { absentDatabase } from './helpers.ts'

const allMigrations = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).map((f) => f.replace(/\.sql$/, '')).sort()

async function tables (url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    const { rows } = await c.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")
    return rows.map((r) => r.table_name)
  } finally {
    await c.end()
  }
}

test('migrate creates the missing database, applies every migration, a second run applies nothing, and down reverts the last', async (t) => {
  const db = absentDatabase(t)
  const { url } = db
  const first = await migrate(url)
  assert.deepEqual(first, allMigrations)
  assert.ok(first.includes('0001_core') && first.includes('0002_auth'))
  for (const table of ['flows', 'flow_versions', 'numbers', 'calls', 'call_results', 'instances', 'instance_tokens', 'api_keys', 'signing_keys']) {
    assert.ok((await tables(url)).includes(table), `table ${table} exists`)
  }
  assert.deepEqual(await migrate(url), [])

  const pool = db.pool({ max: 1 })
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM signing_keys WHERE retired_at IS NULL')
  assert.equal(rows[0].n, 1, 'exactly one current signing key after two runs')
  const ring = await loadKeyring(pool)
  assert.equal(ring.keys[ring.current]?.length, 32)

  // down reverts the last migration only; up applies it again.
  const last = allMigrations.at(-1)!
  assert.deepEqual(await migrate(url, { direction: 'down' }), [last])
  assert.deepEqual(await migrate(url), [last])
})

test('two concurrent migrates of a database that does not exist yet both succeed and apply each migration once', async (t) => {
  const db = absentDatabase(t)
  const { url } = db
  const [a, b] = await Promise.all([migrate(url), migrate(url)])
  assert.deepEqual([...a, ...b].sort(), allMigrations, 'each migration applied by exactly one of them')
  const pool = db.pool({ max: 1 })
  const { rows } = await pool.query('SELECT name FROM pgmigrations ORDER BY name')
  assert.deepEqual(rows.map((r) => r.name), allMigrations)
  const keys = await pool.query('SELECT count(*)::int AS n FROM signing_keys')
  assert.equal(keys.rows[0].n, 1)
})

test('a database that does not answer fails with FED_DB_UNAVAILABLE naming host:port and never the password', async () => {
  const port = await freePort()
  const url = `postgres://someone:s3cret-pw@127.0.0.1:${port}/nothing`
  await assert.rejects(migrate(url, { connectionTimeoutMs: 2000 }), (err: unknown) => {
    assert.ok(err instanceof DbError)
    assert.equal(err.code, 'FED_DB_UNAVAILABLE')
    assert.equal(err.canRetry, true)
    assert.ok(isConnectionError(err))
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`))
    assert.doesNotMatch(err.message, /s3cret/)
    return true
  })
})

test('a database URL without a database name is refused before connecting', async () => {
  for (const url of ['postgres://postgres@127.0.0.1:5432', 'postgres://postgres@127.0.0.1:5432/', 'not a url']) {
    await assert.rejects(migrate(url), (err: unknown) => err instanceof DbError && err.code === 'FED_DB_INVALID_INPUT', url)
  }
})

test('createPool sets application_name and statement_timeout and survives a killed idle connection', async (t) => {
  // No schema needed: the server's own database, and an application_name no one else uses.
  const url = databaseUrl('postgres')
  const appName = `fed-pool-test-${suffix()}`
  const pool = createPool(url, { max: 2, statementTimeoutMs: 300, applicationName: appName })
  t.after(() => pool.close())
  const { rows } = await pool.query("SELECT current_setting('application_name') AS app, current_setting('statement_timeout') AS st, pg_backend_pid() AS pid")
  assert.equal(rows[0].app, appName)
  assert.equal(rows[0].st, '300ms')
  await assert.rejects(pool.query('SELECT pg_sleep(2)'), /statement timeout/)
  assert.ok(pool.listenerCount('error') >= 1, 'pool has an error listener')

  // Kill the pool's idle connection from outside: without the listener this crashes the process.
  // (The timed-out query's connection was discarded by the pool: open a fresh idle one.)
  await pool.query('SELECT 1')
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  const killed = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [appName])
  await admin.end()
  assert.equal(killed.rowCount, 1)
  // A query may still race the dying connection; the pool then replaces it.
  await waitFor(async () => (await pool.query('SELECT 1 AS one')).rows[0].one === 1, { what: 'a fresh connection' })
  await pool.close()
  await pool.close()
})
