import Type from 'typebox'
import { defineSettings, databaseSettings, memcachedSettings, redisSettings, s3Settings, logSettings } from '@federate/config'
import { storageOnlySettings } from '@federate/storage'
import { TRUST_PROXY_PATTERN } from './trust-proxy.ts'

/** Everything `federate serve` reads, validated once at start. */
export const serverSettings = defineSettings({
  ...databaseSettings,
  ...memcachedSettings,
  ...redisSettings,
  ...s3Settings,
  ...storageOnlySettings,
  ...logSettings,
  host: { env: 'FEDERATE_HOST', schema: Type.String({ minLength: 1 }), default: '127.0.0.1', description: 'address to listen on' },
  port: { env: 'FEDERATE_PORT', schema: Type.Integer({ minimum: 0, maximum: 65535 }), default: 8080, description: 'port to listen on' },
  bodyLimit: {
    env: 'FEDERATE_BODY_LIMIT',
    schema: Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024 }),
    default: 1024 * 1024,
    description: 'largest request body in bytes (XML-RPC and REST)',
  },
  trustProxy: {
    env: 'FEDERATE_TRUST_PROXY',
    schema: Type.String({ pattern: TRUST_PROXY_PATTERN }),
    default: 'false',
    description: 'which X-Forwarded-For entry is the client: false (the connection), a hop count (1 behind an ALB), your proxies\' addresses/CIDRs, or true (left-most: only behind a proxy that replaces the header)',
  },
  stateTtlSec: {
    env: 'FEDERATE_STATE_TTL_SEC',
    schema: Type.Integer({ minimum: 60, maximum: 7 * 86400 }),
    default: 4 * 3600,
    description: 'how long a call\'s state token stays valid',
  },
  authCacheSec: {
    env: 'FEDERATE_AUTH_CACHE_SEC',
    schema: Type.Integer({ minimum: 0, maximum: 300 }),
    default: 5,
    description: 'seconds a verified instance token is remembered in memory (revocation takes effect within this)',
  },
  authFailureLimit: {
    env: 'FEDERATE_AUTH_FAILURE_LIMIT',
    schema: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
    default: 30,
    description: 'failed API-key or instance-token authentications from one address within the window before its unknown credentials get 429 / a fault (0: no limit)',
  },
  authFailureWindowSec: {
    env: 'FEDERATE_AUTH_FAILURE_WINDOW_SEC',
    schema: Type.Integer({ minimum: 1, maximum: 86400 }),
    default: 60,
    description: 'the sliding window of FEDERATE_AUTH_FAILURE_LIMIT, seconds',
  },
  httpAllowList: {
    env: 'FEDERATE_HTTP_ALLOW',
    schema: Type.Array(Type.String({ minLength: 1 })),
    default: [],
    description: 'hosts a flow\'s http node may call, comma-separated (e.g. api.example.com,*.example.org); empty: none',
  },
  httpTimeoutMs: {
    env: 'FEDERATE_HTTP_TIMEOUT_MS',
    schema: Type.Integer({ minimum: 100, maximum: 30000 }),
    default: 3000,
    description: 'the longest a flow\'s http node may wait, whatever the flow asks',
  },
  localFlowCache: {
    env: 'FEDERATE_LOCAL_FLOW_CACHE',
    schema: Type.Boolean(),
    default: true,
    description: 'also keep parsed flow versions in process memory (they are immutable); off with CACHE_ENABLED=false',
  },
  dialerEnabled: {
    env: 'FEDERATE_DIALER',
    schema: Type.Boolean(),
    default: true,
    description: 'serve campaigns (needs Redis); false: dialer.next answers no work',
  },
  dialerPrefix: {
    env: 'DIALER_PREFIX',
    schema: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }),
    default: 'fed:dialer',
    description: 'Redis key prefix of the campaign queues (every server and the CLI must agree)',
  },
  csvBodyLimit: {
    env: 'FEDERATE_CSV_BODY_LIMIT',
    schema: Type.Integer({ minimum: 1024, maximum: 4 * 1024 * 1024 * 1024 }),
    default: 512 * 1024 * 1024,
    description: 'largest CSV upload in bytes (contacts, do-not-call list); streamed, never held in memory',
  },
  storageEnabled: {
    env: 'FEDERATE_STORAGE',
    schema: Type.Boolean(),
    default: true,
    description: 'serve prompts and recordings (needs S3)',
  },
})
