import { after, before, type TestContext } from 'node:test'
import pg from 'pg'
import { createTestDatabase, databaseUrl, suffix } from '@federate/testkit'
import { createPool, migrate, type DbPool, type PoolOptions } from '../src/index.ts'

/** A fresh, migrated database and a pool on it; both go away after the test. */
export async function migratedDatabase (t: TestContext, poolOptions: { max?: number } = {}): Promise<{ url: string, pool: DbPool }> {
  const db = await createTestDatabase('fedtest_db')
  const pool = createPool(db.url, { max: poolOptions.max ?? 5 })
  // One hook, in order: the pool first (dropping WITH FORCE would kill its connections).
  t.after(async () => {
    await pool.close()
    await db.drop()
  })
  await migrate(db.url)
  return { url: db.url, pool }
}

/**
 * One migrated database for every test of a file (creating and migrating one per test costs more
 * than the tests): tests of the file run one after another and use ids of their own (`suffix()`).
 */
export function useMigratedDatabase (poolOptions: { max?: number } = {}): { readonly url: string, readonly pool: DbPool } {
  let state: { url: string, pool: DbPool, drop: () => Promise<void> } | undefined
  before(async () => {
    const db = await createTestDatabase('fedtest_db')
    await migrate(db.url)
    state = { url: db.url, pool: createPool(db.url, { max: poolOptions.max ?? 8 }), drop: db.drop }
  })
  after(async () => {
    await state?.pool.close()
    await state?.drop()
  })
  return {
    get url () { return state!.url },
    get pool () { return state!.pool },
  }
}

/**
 * The URL of a database that does not exist yet, dropped (if something created it) after the
 * test; `pool()` opens pools on it that are closed before the drop.
 */
export function absentDatabase (t: TestContext): { url: string, name: string, pool: (options?: PoolOptions) => DbPool } {
  const name = `fedtest_db_${suffix()}${suffix()}`
  const url = databaseUrl(name)
  const pools: DbPool[] = []
  t.after(async () => {
    for (const p of pools) await p.close()
    const admin = new pg.Client({ connectionString: databaseUrl('postgres') })
    await admin.connect()
    try {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    } finally {
      await admin.end()
    }
  })
  return {
    url,
    name,
    pool: (options?: PoolOptions) => {
      const p = createPool(url, options)
      pools.push(p)
      return p
    },
  }
}
