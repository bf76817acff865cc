import { loadConfig, databaseSettings, memcachedSettings } from '@federate/config'
import { createPool, describeDatabaseUrl, isConnectionError, type DbPool } from '@federate/db'
import { CliError, EXIT } from './output.ts'

/**
 * Runs `fn` with a pool on DATABASE_URL and closes it; an unreachable database becomes a clear
 * error (exit 3) that names the address but never the password.
 */
export async function withDatabase<T> (fn: (pool: DbPool) => Promise<T>): Promise<T> {
  const config = loadConfig(databaseSettings)
  const pool = createPool(config.databaseUrl, { max: 2 })
  try {
    return await fn(pool)
  } catch (err) {
    if (isConnectionError(err)) {
      throw new CliError(`cannot reach PostgreSQL at ${describeDatabaseUrl(config.databaseUrl)} (DATABASE_URL); start it with \`federate services up\``, EXIT.UNAVAILABLE, { cause: err })
    }
    if ((err as { code?: string }).code === '42P01' || (err as { code?: string }).code === '3D000') {
      throw new CliError('the database has no schema yet: run `federate migrate` first', EXIT.UNAVAILABLE, { cause: err })
    }
    throw err
  } finally {
    await pool.close()
  }
}

/** The cache settings, for commands that must drop cached entries after a change. */
export function cacheConfig () {
  return loadConfig(memcachedSettings)
}
