import Type from 'typebox'
import { defineSettings } from './settings.ts'

// Settings shared by several apps. Defaults are the standard local ports that
// `federate services up` makes reachable.

export const databaseSettings = defineSettings({
  databaseUrl: {
    env: 'DATABASE_URL',
    schema: Type.String({ pattern: '^postgres(ql)?://' }),
    default: 'postgres://postgres@127.0.0.1:5432/federate',
    description: 'PostgreSQL connection URL',
    secret: true,
  },
  databasePoolSize: {
    env: 'DATABASE_POOL_SIZE',
    schema: Type.Integer({ minimum: 1, maximum: 200 }),
    default: 10,
    description: 'connections in each process\'s pool',
  },
})

export const redisSettings = defineSettings({
  redisUrl: {
    env: 'REDIS_URL',
    schema: Type.String({ pattern: '^rediss?://' }),
    default: 'redis://127.0.0.1:6379',
    description: 'Redis URL (BullMQ queues, rate limits)',
    secret: true,
  },
})

export const memcachedSettings = defineSettings({
  memcachedServers: {
    env: 'MEMCACHED_SERVERS',
    schema: Type.Array(Type.String({ pattern: '^[^,\\s]+:[0-9]{1,5}$' })),
    default: ['127.0.0.1:11211'],
    description: 'Memcached servers, comma-separated host:port (empty list disables the cache)',
  },
  cachePrefix: {
    env: 'CACHE_PREFIX',
    schema: Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$' }),
    default: 'fed',
    description: 'key prefix in Memcached (separates deployments sharing a cache)',
  },
  cacheEnabled: {
    env: 'CACHE_ENABLED',
    schema: Type.Boolean(),
    default: true,
    description: 'read flows and routes through Memcached (false: PostgreSQL every time)',
  },
})

export const s3Settings = defineSettings({
  s3Endpoint: {
    env: 'S3_ENDPOINT',
    schema: Type.String(),
    default: 'http://127.0.0.1:9000',
    description: 'S3 endpoint URL (empty string: AWS\'s own endpoint for S3_REGION)',
  },
  s3Region: { env: 'S3_REGION', schema: Type.String({ minLength: 1 }), default: 'us-east-1', description: 'S3 region' },
  s3Bucket: { env: 'S3_BUCKET', schema: Type.String({ pattern: '^[a-z0-9][a-z0-9.-]{2,62}$' }), default: 'federate', description: 'bucket for prompts and recordings' },
  s3AccessKeyId: { env: 'S3_ACCESS_KEY_ID', schema: Type.String(), default: 'S3RVER', description: 'access key id (empty: the SDK\'s default credential chain)', secret: true },
  s3SecretAccessKey: { env: 'S3_SECRET_ACCESS_KEY', schema: Type.String(), default: 'S3RVER', description: 'secret access key', secret: true },
  s3ForcePathStyle: { env: 'S3_FORCE_PATH_STYLE', schema: Type.Boolean(), default: true, description: 'path-style URLs (needed by S3-compatible servers)' },
  s3ChecksumWhenRequired: {
    env: 'S3_CHECKSUM_WHEN_REQUIRED',
    schema: Type.Boolean(),
    default: true,
    description: 'compute/validate checksums only when required (S3-compatible servers mis-store SDK default checksums)',
  },
})

export const logSettings = defineSettings({
  logLevel: {
    env: 'LOG_LEVEL',
    schema: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
    default: 'info',
    description: 'log level',
  },
})
