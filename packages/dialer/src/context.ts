import type pg from 'pg'
import type { Logger } from 'pino'
import type { CampaignQueues } from './queues.ts'

/** What every part of the dialer shares: built once by `createDialer`. */
export interface DialerContext {
  pool: pg.Pool
  queues: CampaignQueues
  logger: Logger
  clock: () => Date
  /** Seconds of work kept queued in Redis per campaign at its rate. */
  bufferSec: number
  /** Seconds a lease lasts beyond the campaign's ring timeout (originate, then ring). */
  leaseGraceSec: number
  /** Queued contacts older than this have their job re-added (idempotent by job id). */
  staleQueuedSec: number
}

/** Runs `fn` in a transaction on one pooled connection. */
export async function inTransaction<T> (pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  try {
    await client.query('BEGIN')
    const out = await fn(client)
    await client.query('COMMIT')
    return out
  } catch (err) {
    await client.query('ROLLBACK').catch((e: Error) => { broken = e })
    throw err
  } finally {
    client.release(broken)
  }
}
