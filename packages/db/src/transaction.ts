import type pg from 'pg'

/**
 * Runs `fn` inside BEGIN/COMMIT on one connection of the pool; rolls back and rethrows on error.
 * A connection that failed mid-transaction is destroyed rather than returned to the pool.
 */
export async function withTransaction<T> (pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  try {
    await client.query('BEGIN')
    const result = await fn(client)
    await client.query('COMMIT')
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: Error) => { broken = rollbackErr })
    throw err
  } finally {
    client.release(broken)
  }
}
