import pg from 'pg'
import { type Logger, silentLogger } from './logger.ts'

/** Anything that runs a query: a Pool, a PoolClient inside a transaction, a Client. */
export interface Queryable {
  query: pg.Pool['query']
}

/** A pg Pool whose `close()` may be called any number of times. */
export type DbPool = pg.Pool & { close: () => Promise<void> }

export interface PoolOptions {
  /** Connections in the pool (default 10). */
  max?: number
  logger?: Logger
  /** Server-side limit for one statement (default 15 s). */
  statementTimeoutMs?: number
  /** Time to open a connection or wait for a free one before failing (default 5 s). */
  connectionTimeoutMs?: number
  /** Idle connections are closed after this (default 30 s). */
  idleTimeoutMs?: number
  /** Shown in pg_stat_activity (default `federate`). */
  applicationName?: string
}

/** host:port/database of a PostgreSQL URL: safe to print (no user, no password). */
export function describeDatabaseUrl (url: string): string {
  try {
    const u = new URL(url)
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname || ''}`
  } catch {
    return '(unparsable DATABASE_URL)'
  }
}

/**
 * Creates a pg Pool with the project's defaults: timeouts on every hop (connect, statement, a
 * client-side read timeout for a server that stops answering) and an `error` listener on the
 * pool and on each client, without which pg's 'error' event crashes the process when the server
 * goes away under an idle or checked-out connection.
 */
export function createPool (url: string, options: PoolOptions = {}): DbPool {
  const logger = (options.logger ?? silentLogger).child({ module: 'db' })
  const statementTimeout = options.statementTimeoutMs ?? 15_000
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'federate',
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
    idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
    statement_timeout: statementTimeout,
    // The server enforces statement_timeout; this catches a server (or network) that went silent.
    query_timeout: statementTimeout + 5_000,
    idle_in_transaction_session_timeout: 60_000,
    keepAlive: true,
  }) as DbPool
  const where = describeDatabaseUrl(url)
  pool.on('error', (err) => { logger.warn({ err: err.message, db: where }, 'idle PostgreSQL connection failed') })
  pool.on('connect', (client) => {
    client.on('error', (err) => { logger.warn({ err: err.message, db: where }, 'PostgreSQL connection failed') })
  })
  let closing: Promise<void> | undefined
  pool.close = async () => {
    closing ??= pool.end()
    await closing
  }
  return pool
}
