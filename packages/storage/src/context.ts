import type pg from 'pg'
import type { Logger } from './logger.ts'
import type { S3Store } from './s3.ts'
import { storageDefaults, type StorageConfig } from './settings.ts'

/** What runs queries and opens transactions: a pg Pool (e.g. `createPool()` of @federate/db). */
export type StoragePool = Pick<pg.Pool, 'query' | 'connect'>

/** Everything the library functions need; REST routes, the CLI and the controller build one. */
export interface StorageContext {
  pool: StoragePool
  s3: S3Store
  config?: Partial<StorageConfig>
  logger?: Logger
}

export function settingsOf (ctx: StorageContext): StorageConfig {
  return { ...storageDefaults, ...ctx.config }
}

/** Runs `fn` in a transaction on one client; rolls back on any error. */
export async function inTransaction<T> (pool: StoragePool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    const out = await fn(client)
    await client.query('COMMIT')
    return out
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    client.release()
  }
}

// Serialises manifest writers so versions commit in order (a reader at version N never misses
// an N-1 that commits later). Transaction-scoped: released at COMMIT/ROLLBACK.
export const MANIFEST_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('federate:storage:manifest'))"
