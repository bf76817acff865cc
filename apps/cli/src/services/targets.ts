import Type from 'typebox'
import {
  defineSettings, databaseSettings, memcachedSettings, redisSettings, s3Settings, type ConfigOf,
} from '@federate/config'

/** The four kinds of dependency `federate services` knows how to reach or start. */
export type ServiceKind = 'postgres' | 'redis' | 'memcached' | 's3'

export const LABELS: Record<ServiceKind, string> = {
  postgres: 'PostgreSQL',
  redis: 'Redis',
  memcached: 'Memcached',
  s3: 'S3 (s3rver)',
}

/** One address the apps will use, and whether federate may start something there. */
export interface ServiceTarget {
  /** Unique name, also the stem of its pid/state/log files: postgres, redis, memcached, memcached-2, s3. */
  name: string
  kind: ServiceKind
  host: string
  port: number
  /** Only loopback addresses are managed; anything else must already be running. */
  local: boolean
  /** The full URL for PostgreSQL (its probe logs in with it) and S3. */
  url?: string
}

export const servicesSettings = defineSettings({
  dataDir: {
    env: 'FEDERATE_DATA_DIR',
    schema: Type.String(),
    default: '',
    description: 'where `federate services` keeps local data, pid files and logs (empty: .data at the repository root)',
  },
})

export const servicesSpec = {
  ...databaseSettings,
  ...redisSettings,
  ...memcachedSettings,
  ...s3Settings,
  ...servicesSettings,
}
export type ServicesConfig = ConfigOf<typeof servicesSpec>

const DEFAULT_PORTS: Record<ServiceKind, number> = { postgres: 5432, redis: 6379, memcached: 11211, s3: 9000 }

/** Loopback names and addresses: the only places federate starts a server. */
export function isLocalHost (host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h)
}

function fromUrl (name: string, kind: ServiceKind, raw: string, variable: string): ServiceTarget {
  let u: URL
  try {
    u = new URL(raw)
  } catch (err) {
    throw new Error(`${variable} is not a URL (got ${JSON.stringify(raw)})`, { cause: err })
  }
  const port = u.port === '' ? DEFAULT_PORTS[kind] : Number(u.port)
  const host = u.hostname.replace(/^\[|\]$/g, '')
  if (host === '') throw new Error(`${variable} has no host (got ${JSON.stringify(raw)})`)
  return { name, kind, host, port, local: isLocalHost(host), url: raw }
}

/**
 * The services the configuration asks for, in start order. A disabled cache (no servers or
 * CACHE_ENABLED=false) and an empty S3_ENDPOINT (AWS itself) need nothing local.
 */
export function targetsFrom (config: ServicesConfig): ServiceTarget[] {
  const out: ServiceTarget[] = [
    fromUrl('postgres', 'postgres', config.databaseUrl, 'DATABASE_URL'),
    fromUrl('redis', 'redis', config.redisUrl, 'REDIS_URL'),
  ]
  if (config.cacheEnabled) {
    config.memcachedServers.forEach((server, i) => {
      const at = server.lastIndexOf(':')
      const host = server.slice(0, at).replace(/^\[|\]$/g, '')
      const port = Number(server.slice(at + 1))
      if (!(port > 0 && port < 65536)) throw new Error(`MEMCACHED_SERVERS has a bad port in ${JSON.stringify(server)}`)
      out.push({ name: i === 0 ? 'memcached' : `memcached-${i + 1}`, kind: 'memcached', host, port, local: isLocalHost(host) })
    })
  }
  if (config.s3Endpoint !== '') out.push(fromUrl('s3', 's3', config.s3Endpoint, 'S3_ENDPOINT'))
  return out
}

/** host:port as people write it (IPv6 in brackets). */
export function address (t: { host: string, port: number }): string {
  return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`
}
