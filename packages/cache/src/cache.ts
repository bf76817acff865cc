import memjs from 'memjs'
import { pino, type Logger } from 'pino'
import { Registry } from 'prom-client'
import { CACHE_ERRORS, CacheError } from './errors.ts'
import { cacheKey, checkPrefix } from './keys.ts'
import { cacheCounters } from './metrics.ts'
import { HashRing } from './ring.ts'
import { SingleFlight } from './single-flight.ts'

export interface CacheOptions {
  /** Memcached servers as host:port. Empty: the cache is off and every get calls its loader. */
  servers: string[]
  /** First part of every key, e.g. `fed` or a random one per test. */
  prefix: string
  /** Second part of every key (`v<n>`): bump it when a cached value's shape changes. Default 1. */
  schemaVersion?: number
  /** Seconds an entry lives unless a get says otherwise (0 = until evicted). Default 300. */
  defaultTtlSec?: number
  /** Longest wait for one memcached operation before failing open. Default 100 ms. */
  timeoutMs?: number
  /** After a failure, how long a server is skipped before one request tries it again. Default 1000 ms. */
  cooldownMs?: number
  /** false: always call the loader (the benchmark's "cache off"). Default true. */
  enabled?: boolean
  logger?: Logger
  /** Where the counters go; a private registry when absent (never the global one). */
  registry?: Registry
  /** The `cache` label of the counters. Default: the prefix. */
  name?: string
}

export interface GetOptions {
  ttlSec?: number
}

export interface CacheStats {
  enabled: boolean
  hits: number
  misses: number
  failOpen: number
  errors: number
  inflight: number
  servers: Array<{ server: string, up: boolean }>
}

/** A read-through cache in front of an expensive loader (PostgreSQL, usually). */
export interface Cache {
  /**
   * The cached value for `key`, or the loader's (stored for `ttlSec`). Concurrent gets of one
   * key call the loader once. When memcached is down or slow the loader is called directly:
   * the cache can make reads faster, never make them fail. `undefined` is not stored.
   */
  get: <T>(key: string, loader: () => Promise<T>, options?: GetOptions) => Promise<T>
  /** Removes `key`; false if it was not there or memcached could not be reached. */
  delete: (key: string) => Promise<boolean>
  stats: () => CacheStats
  close: () => Promise<void>
}

const MAX_TTL_SEC = 30 * 24 * 3600 // beyond this memcached reads the number as a Unix time

function checkTtl (ttl: unknown, what: string): number {
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0 || ttl > MAX_TTL_SEC) {
    throw new CacheError(CACHE_ERRORS.INVALID_OPTIONS, `${what} must be an integer number of seconds from 0 to ${MAX_TTL_SEC} (got ${JSON.stringify(ttl)})`)
  }
  return ttl
}

function checkServer (server: string): string {
  const m = /^(\[[0-9a-fA-F:]+\]|[^\s:,[\]]+):(\d{1,5})$/.exec(server)
  if (m === null || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    throw new CacheError(CACHE_ERRORS.INVALID_OPTIONS, `memcached server must be host:port (got ${JSON.stringify(server)})`)
  }
  return server
}

/**
 * One memcached server: its memjs client (one per server, so our ring, not memjs's modulo,
 * picks the server) and its health. After a failure the server is skipped for `cooldownMs`;
 * then a single request probes it while the others keep failing open.
 */
class Node {
  private downUntil = 0
  private probing = false
  /** When an operation last completed within its deadline. */
  private lastOnTimeAt = 0

  constructor (
    readonly server: string,
    readonly client: memjs.Client,
    private readonly cooldownMs: number,
    private readonly logger: Logger
  ) {}

  get up (): boolean {
    return this.downUntil === 0
  }

  /** Whether a request may go to this server now (claims the probe after a cool-down). */
  acquire (): boolean {
    if (this.downUntil === 0) return true
    if (this.probing || Date.now() < this.downUntil) return false
    this.probing = true
    return true
  }

  ok (): void {
    if (this.downUntil !== 0) this.logger.info({ server: this.server }, 'memcached answers again')
    this.downUntil = 0
    this.probing = false
    this.lastOnTimeAt = Date.now()
  }

  /**
   * An operation sent at `sentAt` failed. A timeout while other operations sent after it were
   * answered in time is our own congestion (a burst, a busy event loop), not a sick server:
   * that operation fails open, but the server is not put in cool-down.
   */
  failed (err: unknown, sentAt: number): void {
    const congestion = err instanceof CacheError && err.code === CACHE_ERRORS.UNAVAILABLE && this.lastOnTimeAt >= sentAt && !this.probing
    if (congestion) return
    if (this.downUntil === 0) {
      this.logger.warn({ server: this.server, err }, `memcached failed; reading through to the loader, next try in ${this.cooldownMs} ms`)
    }
    this.downUntil = Date.now() + this.cooldownMs
    this.probing = false
  }
}

/**
 * Runs one memjs operation with a hard deadline. When the timer fires, the rejection waits for
 * setImmediate, i.e. until after the event loop has read the sockets: a reply that arrived
 * while the loop was busy (a burst, a long synchronous task) still wins, so our own lag is
 * not mistaken for a slow server.
 */
async function bounded<T> (op: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      op,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => setImmediate(() => reject(new CacheError(CACHE_ERRORS.UNAVAILABLE, `memcached ${what} took longer than ${timeoutMs} ms`))), timeoutMs)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Builds a cache; see {@link CacheOptions}. Nothing connects until the first get. */
export function createCache (options: CacheOptions): Cache {
  const {
    servers,
    prefix,
    schemaVersion = 1,
    defaultTtlSec = 300,
    timeoutMs = 100,
    cooldownMs = 1000,
    enabled = true,
    logger = pino({ level: 'silent' }),
    registry = new Registry(),
    name = prefix,
  } = options
  checkPrefix(prefix)
  if (!Number.isInteger(schemaVersion) || schemaVersion < 0) {
    throw new CacheError(CACHE_ERRORS.INVALID_OPTIONS, `schemaVersion must be a non-negative integer (got ${JSON.stringify(schemaVersion)})`)
  }
  checkTtl(defaultTtlSec, 'defaultTtlSec')
  for (const [what, v] of [['timeoutMs', timeoutMs], ['cooldownMs', cooldownMs]] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new CacheError(CACHE_ERRORS.INVALID_OPTIONS, `${what} must be a positive number of milliseconds (got ${JSON.stringify(v)})`)
    }
  }
  if (!Array.isArray(servers)) throw new CacheError(CACHE_ERRORS.INVALID_OPTIONS, 'servers must be an array of host:port')
  servers.forEach(checkServer)

  const counters = cacheCounters(registry, name)
  const totals = { hits: 0, misses: 0, failOpen: 0, errors: 0 }
  const flights = new SingleFlight()
  const on = enabled && servers.length > 0
  const memjsLogger = { log: (...args: unknown[]) => logger.debug(args.join(' ')) }
  const nodes = new Map<string, Node>(on
    ? [...new Set(servers)].map((server) => [server, new Node(server, memjs.Client.create(server, {
        // One attempt (memjs counts the first as a retry): a failure fails open at once instead
        // of after memjs's 200 ms retry delay.
        retries: 1,
        // memjs fails every request on a socket once one passes this deadline; keep it well above
        // our per-operation deadline so a burst that runs late does not take the others with it.
        timeout: Math.max(1000, 4 * timeoutMs) / 1000,
        conntimeout: Math.max(1000, 4 * timeoutMs) / 1000,
        keepAlive: true,
        failover: false,
        logger: memjsLogger,
      }), cooldownMs, logger)])
    : [])
  const ring = on ? new HashRing([...nodes.keys()]) : null
  let closed = false

  const count = (what: keyof typeof totals): void => {
    totals[what]++
    counters[what].inc()
  }

  const nodeFor = (fullKey: string): Node => nodes.get((ring as HashRing).get(fullKey)) as Node

  async function readThrough<T> (fullKey: string, loader: () => Promise<T>, ttlSec: number, flight: { promise: Promise<T> }): Promise<T> {
    const node = nodeFor(fullKey)
    if (!node.acquire()) {
      count('failOpen')
      return await loader()
    }
    let raw: Buffer | null
    const sentAt = Date.now()
    try {
      raw = (await bounded(node.client.get(fullKey), timeoutMs, 'get')).value
      node.ok()
    } catch (err) {
      node.failed(err, sentAt)
      count('errors')
      count('failOpen')
      return await loader()
    }
    if (raw !== null) {
      try {
        const value = JSON.parse(raw.toString('utf8')) as T
        count('hits')
        return value
      } catch (err) {
        // Not ours, or cut short: treat as a miss and overwrite it.
        logger.warn({ key: fullKey, err }, 'unreadable cache entry; reloading')
        count('errors')
      }
    }
    count('misses')
    const value = await loader()
    // Skip the store if a delete() happened meanwhile: the value may be the one just deleted.
    if (value !== undefined && flights.current(fullKey, flight) && !closed && node.acquire()) {
      const setAt = Date.now()
      try {
        await bounded(node.client.set(fullKey, JSON.stringify(value), { expires: ttlSec }), timeoutMs, 'set')
        node.ok()
      } catch (err) {
        node.failed(err, setAt)
        count('errors')
      }
    }
    return value
  }

  return {
    async get<T> (key: string, loader: () => Promise<T>, getOptions: GetOptions = {}): Promise<T> {
      const ttlSec = getOptions.ttlSec === undefined ? defaultTtlSec : checkTtl(getOptions.ttlSec, 'ttlSec')
      const fullKey = cacheKey(prefix, schemaVersion, key)
      if (!on || closed) return await loader()
      return await flights.run<T>(fullKey, (flight) => readThrough(fullKey, loader, ttlSec, flight))
    },

    async delete (key: string): Promise<boolean> {
      const fullKey = cacheKey(prefix, schemaVersion, key)
      if (!on || closed) return false
      flights.forget(fullKey)
      const node = nodeFor(fullKey)
      if (!node.acquire()) return false
      const sentAt = Date.now()
      try {
        const removed = await bounded(node.client.delete(fullKey), timeoutMs, 'delete')
        node.ok()
        return removed
      } catch (err) {
        node.failed(err, sentAt)
        count('errors')
        return false
      }
    },

    stats (): CacheStats {
      return {
        enabled: on,
        ...totals,
        inflight: flights.size,
        servers: [...nodes.values()].map((n) => ({ server: n.server, up: n.up })),
      }
    },

    async close (): Promise<void> {
      if (closed) return
      closed = true
      for (const node of nodes.values()) node.client.close()
    },
  }
}
