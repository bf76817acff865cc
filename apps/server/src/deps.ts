import type { Logger } from 'pino'
import { createCache } from '@federate/cache'
import type { ConfigOf } from '@federate/config'
import { coreWriteKinds, createGroupCommitter, createPool, loadKeyring, type DbPool, type GroupCommitter } from '@federate/db'
import type { Keyring } from '@federate/flows'
import type { Dialer } from '@federate/dialer'
import type { serverSettings } from './config.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { createDialerAdapters } from './dialer-service.ts'
import { openStorage } from './storage-service.ts'
import type { AppDeps } from './app.ts'

export type ServerConfig = ConfigOf<typeof serverSettings>

export interface ServerDeps extends AppDeps {
  pool: DbPool
  committer: GroupCommitter
  metrics: Metrics
  /** The campaign dialer, when FEDERATE_DIALER is on (REST routes and tests use it). */
  dialerInstance?: Dialer
  close: () => Promise<void>
}

const KEYRING_REFRESH_MS = 60_000
const DISPATCH_INTERVAL_MS = 200

/**
 * Opens what an app server holds: the PostgreSQL pool, the Memcached cache, the group committer,
 * the state-token keyring (from PostgreSQL, refreshed every minute so a rotation reaches every
 * server). close() releases them children first.
 */
export async function createServerDeps (config: ServerConfig, logger: Logger): Promise<ServerDeps> {
  const pool = createPool(config.databaseUrl, { max: config.databasePoolSize, logger: logger.child({ module: 'db' }) })
  const metrics = createMetrics()
  let keyring: Keyring
  // Prompts and recordings (FEDERATE_STORAGE): S3 must answer at start, or the server does not start.
  let storage: Awaited<ReturnType<typeof openStorage>> | undefined
  try {
    keyring = await loadKeyring(pool)
    if (config.storageEnabled) storage = await openStorage(config, pool, logger)
  } catch (err) {
    await pool.close()
    throw err
  }
  const refresh = setInterval(() => {
    loadKeyring(pool).then((k) => { keyring = k }, (err: unknown) => { logger.warn({ err }, 'keyring refresh failed; keeping the current one') })
  }, KEYRING_REFRESH_MS).unref()
  const cache = createCache({
    servers: config.memcachedServers,
    enabled: config.cacheEnabled,
    prefix: config.cachePrefix,
    logger: logger.child({ module: 'cache' }),
    registry: metrics.registry,
  })
  const committer = createGroupCommitter(pool, { kinds: coreWriteKinds })
  // Campaigns: every app server runs the (idempotent, lock-guarded) dispatcher and hands out leases.
  const dialer = config.dialerEnabled
    ? (await import('@federate/dialer')).createDialer({ pool, redisUrl: config.redisUrl, prefix: config.dialerPrefix, logger: logger.child({ module: 'dialer' }) })
    : undefined
  dialer?.run({ intervalMs: DISPATCH_INTERVAL_MS })
  let closed = false
  return {
    db: pool,
    pool,
    cache,
    committer,
    metrics,
    keyring: () => keyring,
    ...(dialer ? { dialerInstance: dialer, ...createDialerAdapters(dialer, pool) } : {}),
    ...(storage ? { storage, audio: storage, missingPrompts: storage.missingPrompts } : {}),
    async close () {
      if (closed) return
      closed = true
      clearInterval(refresh)
      await dialer?.close()
      await committer.close()
      await cache.close()
      await storage?.close()
      await pool.close()
    },
  }
}
