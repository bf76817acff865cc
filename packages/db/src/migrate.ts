import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { runner, PG_MIGRATE_LOCK_ID } from 'node-pg-migrate'
import { DbError, isConnectionError, sqlState } from './errors.ts'
import { type Logger, silentLogger } from './logger.ts'
import { describeDatabaseUrl } from './pool.ts'
import { ensureSigningKey } from './signing-keys.ts'

/** Where the project's SQL migrations live (every area adds its own `NNNN_name.sql` here). */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url))

export interface MigrateOptions {
  logger?: Logger
  /** `up` (default) applies every pending migration; `down` reverts the last `count` (default 1). */
  direction?: 'up' | 'down'
  count?: number
  /** Another directory of migrations (tests). */
  dir?: string
  /** How long to wait for another process's migration to finish (default 5 min). */
  lockTimeoutMs?: number
  connectionTimeoutMs?: number
}

/**
 * Creates the database named in `url` if it does not exist, then applies pending migrations and
 * makes sure a current signing key exists. Safe to run from several processes at once: they
 * queue on an advisory lock, and the later ones find nothing left to do. Returns the names of the
 * migrations it applied (or reverted, for `down`), in order.
 */
export async function migrate (url: string, options: MigrateOptions = {}): Promise<string[]> {
  const logger = (options.logger ?? silentLogger).child({ module: 'migrate' })
  const direction = options.direction ?? 'up'
  // pg would fall back to a database named after the user: never migrate one by accident.
  databaseName(url)
  const client = await connect(url, options, logger)
  try {
    // Session lock, blocking (node-pg-migrate's own lock is a try-lock that fails the second
    // process). Same key as node-pg-migrate's CLI, so a manual run also waits or is refused.
    await client.query(`SET lock_timeout = ${Math.max(1, Math.floor(options.lockTimeoutMs ?? 300_000))}`)
    await client.query('SELECT pg_advisory_lock($1)', [PG_MIGRATE_LOCK_ID])
    await client.query('SET lock_timeout = 0')
    try {
      const ran = await runner({
        dbClient: client,
        dir: options.dir ?? MIGRATIONS_DIR,
        // Only .sql files (the folder also holds a README); dotfiles too are ignored.
        ignorePattern: '(?:\\..*|(?!.*\\.sql$).*)',
        migrationsTable: 'pgmigrations',
        direction,
        count: options.count ?? (direction === 'up' ? Infinity : 1),
        noLock: true,
        // Areas own number ranges and add files concurrently: a new 0003 may land after 0100 ran.
        checkOrder: false,
        logger: migrationLogger(logger),
      })
      if (direction === 'up') {
        const kid = await ensureSigningKey(client)
        if (kid) logger.info({ kid }, 'created the first state-token signing key')
      }
      const names = ran.map((m) => m.name)
      logger.info({ direction, applied: names }, names.length ? 'migrations applied' : 'schema up to date')
      return names
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PG_MIGRATE_LOCK_ID]).catch(() => {})
    }
  } catch (err) {
    if (err instanceof DbError) throw err
    if (isConnectionError(err)) throw unavailable(url, err)
    throw new DbError('FED_DB_MIGRATION_FAILED', err instanceof Error ? err.message : String(err), { cause: err })
  } finally {
    await client.end().catch(() => {})
  }
}

// Connects to the target database, creating it first if the server says it does not exist.
async function connect (url: string, options: MigrateOptions, logger: Logger): Promise<pg.Client> {
  try {
    return await openClient(url, options)
  } catch (err) {
    if (sqlState(err) !== '3D000') throw connectError(url, err) // invalid_catalog_name
  }
  await createDatabase(url, options, logger)
  try {
    return await openClient(url, options)
  } catch (err) {
    throw connectError(url, err)
  }
}

async function openClient (url: string, options: MigrateOptions): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    application_name: 'federate-migrate',
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
    keepAlive: true,
  })
  // Without a listener, a server restart mid-migration would crash the process.
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (err) {
    await client.end().catch(() => {})
    throw err
  }
  return client
}

async function createDatabase (url: string, options: MigrateOptions, logger: Logger): Promise<void> {
  const name = databaseName(url)
  const admin = new URL(url)
  admin.pathname = '/postgres'
  let client: pg.Client
  try {
    client = await openClient(admin.toString(), options)
  } catch (err) {
    throw connectError(url, err)
  }
  try {
    await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`)
    logger.info({ database: name }, 'created database')
  } catch (err) {
    // Another process created it first: 42P04 duplicate_database, or 23505 on pg_database's index.
    const state = sqlState(err)
    if (state !== '42P04' && state !== '23505') {
      throw new DbError('FED_DB_CONNECT_FAILED', `database "${name}" does not exist and could not be created: ${(err as Error).message}`, { cause: err })
    }
  } finally {
    await client.end().catch(() => {})
  }
}

function databaseName (url: string): string {
  let name = ''
  try {
    name = decodeURIComponent(new URL(url).pathname.slice(1))
  } catch {
    throw new DbError('FED_DB_INVALID_INPUT', 'DATABASE_URL is not a URL')
  }
  if (!name || name.includes('/')) throw new DbError('FED_DB_INVALID_INPUT', `DATABASE_URL must name a database (${describeDatabaseUrl(url)})`)
  return name
}

function unavailable (url: string, err: unknown): DbError {
  const reason = err instanceof Error ? (err as { code?: string }).code ?? err.message : String(err)
  return new DbError('FED_DB_UNAVAILABLE', `no answer from PostgreSQL at ${describeDatabaseUrl(url)} (${reason})`, { cause: err })
}

function connectError (url: string, err: unknown): DbError {
  if (isConnectionError(err)) return unavailable(url, err)
  return new DbError('FED_DB_CONNECT_FAILED', `${describeDatabaseUrl(url)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
}

// node-pg-migrate logs through info/warn/error. It calls our `NNNN_` prefixes "not a timestamp"
// at error level for every file: that is expected here, so it goes to debug.
function migrationLogger (logger: Logger) {
  const debug = (msg: string) => { logger.debug(msg) }
  const log = (level: 'warn' | 'error') => (msg: string) => {
    if (/^Can't determine timestamp for \d+$/.test(msg)) logger.debug(msg)
    else logger[level](msg)
  }
  // Its per-file chatter is debug; migrate() logs one summary line at info.
  return { debug, info: debug, warn: log('warn'), error: log('error') }
}
