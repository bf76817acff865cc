import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions, type RouteOptions } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { GroupCommitter, Queryable } from '@federate/db'
import type { Keyring } from '@federate/flows'
import type { Dialer } from '@federate/dialer'
import { xmlrpcPlugin } from '@federate/xmlrpc'
import { createApiKeyAuth } from './auth/api-key-auth.ts'
import { apiDefaultDeny } from './auth/default-deny.ts'
import { errorHandler } from './error-handler.ts'
import { createInstanceAuthenticator } from './auth/instance-auth.ts'
import { AuthFailureLimiter } from './auth/rate-limit.ts'
import { dashboardPlugin } from './dashboard/index.ts'
import { createFlowSource, type ReadThroughCache } from './flow-source.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { schemaErrorFormatter } from './schema-errors.ts'
import { createRpcRegistry } from './rpc/methods.ts'
import type { OutboundCalls } from './rpc/outbound.ts'
import type { DialerService, StorageService } from './rpc/services.ts'
import { adminRoutes } from './routes/admin.ts'
import { audioRoutes, type AudioStorage } from './routes/audio.ts'
import { campaignRoutes } from './routes/campaigns.ts'
import { flowRoutes } from './routes/flows.ts'
import { healthRoutes } from './routes/health.ts'
import { trustProxyOption } from './trust-proxy.ts'

export { serverSettings } from './config.ts'
export { createServerDeps } from './deps.ts'
export type { ServerDeps } from './deps.ts'
export { startServer } from './main.ts'
export { createLogger, scrubSecrets } from './logger.ts'
export { AuthFailureLimiter } from './auth/rate-limit.ts'
export { publishFlow, FlowRejectedError } from './flow-publisher.ts'
export { createFlowSource } from './flow-source.ts'

const QUIET_PATHS = new Set(['/RPC2', '/metrics', '/healthz', '/readyz'])

/** What buildApp needs; main.ts (or a test) creates these and closes them. */
export interface AppDeps {
  db: Queryable
  cache: ReadThroughCache & { stats?: () => { servers: Array<{ up: boolean }> } }
  committer: GroupCommitter
  keyring: () => Keyring
  metrics?: Metrics
  outbound?: OutboundCalls
  dialer?: DialerService
  /** The campaign dialer behind /api/v1/campaigns (absent: those routes answer 503). */
  dialerInstance?: Dialer
  storage?: StorageService
  missingPrompts?: (names: string[]) => Promise<string[]>
  /** The prompt library for the REST routes (/api/v1/prompts, /manifest, /recordings); absent: not served. */
  audio?: AudioStorage
}

export interface AppOptions {
  bodyLimit: number
  /** FEDERATE_TRUST_PROXY as given (see trust-proxy.ts). */
  trustProxy: string | boolean
  stateTtlSec: number
  authCacheSec: number
  httpAllowList: readonly string[]
  httpTimeoutMs: number
  /** Keep parsed flow versions in memory too (default true). */
  localFlowCache?: boolean
  /** Largest CSV upload (contacts, do-not-call) in bytes; default 512 MiB. */
  csvBodyLimit?: number
  logger?: FastifyServerOptions['logger'] | FastifyServerOptions['loggerInstance']
  /** Failed authentications from one address within the window before it is refused (0: off). Default 30. */
  authFailureLimit?: number
  /** The sliding window of authFailureLimit, seconds. Default 60. */
  authFailureWindowSec?: number
  /** Sees every route as it is registered (the security tests enumerate the REST API with it). */
  onRoute?: (route: RouteOptions) => void
}

/**
 * The app tier: XML-RPC for the instances at /RPC2, REST for operators at /api/v1 (OpenAPI at
 * /docs), health and metrics. Builds, does not listen: tests use inject() or listen themselves.
 */
export async function buildApp (deps: AppDeps, options: AppOptions): Promise<FastifyInstance> {
  const logger = options.logger
  const app = Fastify({
    ...(logger && typeof logger === 'object' && 'child' in logger ? { loggerInstance: logger as FastifyServerOptions['loggerInstance'] } : { logger: logger ?? false }),
    bodyLimit: options.bodyLimit,
    trustProxy: trustProxyOption(options.trustProxy),
    // Keep-alive longer than a typical load balancer's idle timeout, so it closes first.
    keepAliveTimeout: 65_000,
    requestTimeout: 30_000,
    // Unknown fields are an error, not silently dropped (Fastify's default strips them).
    ajv: { customOptions: { removeAdditional: false } },
    // Refusals that name the field and what it accepts (Ajv's raw list does not).
    schemaErrorFormatter,
    // Request lines for operators' REST calls; none for the hot paths (instances, scrapers).
    logController: new LogController({ disableRequestLogging: (request) => QUIET_PATHS.has(request.url) }),
  })
  if (options.onRoute !== undefined) app.addHook('onRoute', options.onRoute)
  const metrics = deps.metrics ?? createMetrics()
  const flows = createFlowSource(deps.db, deps.cache, { local: options.localFlowCache ?? true })
  // One limiter for both interfaces: an address guessing keys is one client, whatever it guesses.
  const limiter = new AuthFailureLimiter({ maxFailures: options.authFailureLimit ?? 30, windowSec: options.authFailureWindowSec ?? 60 })
  const instanceAuth = createInstanceAuthenticator(deps.db, metrics, options.authCacheSec, limiter)
  const apiAuth = createApiKeyAuth(deps.db, metrics, options.authCacheSec, limiter)
  // Before any route is registered, so that it covers every one: /api/v1 needs a key, viewers read only.
  app.addHook('onRequest', apiDefaultDeny(apiAuth))
  // Internal errors (a database's message, a bug) are logged, not sent to the client.
  app.setErrorHandler(errorHandler)

  await app.register(xmlrpcPlugin, {
    registry: createRpcRegistry({ ...deps, flows, metrics, stateTtlSec: options.stateTtlSec, httpAllowList: options.httpAllowList, httpTimeoutMs: options.httpTimeoutMs }),
    bodyLimit: options.bodyLimit,
    authenticate: async (request) => await instanceAuth.authenticate(request),
    onCall: (method, durationMs, faultCode) => {
      metrics.rpcDuration.observe({ method, outcome: faultCode === undefined ? 'ok' : String(faultCode) }, durationMs / 1000)
    },
  })

  await app.register(swagger, {
    openapi: {
      info: { title: 'Federate REST API', version: '1' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })

  await app.register(async (api) => {
    await api.register(flowRoutes, { db: deps.db, auth: apiAuth, flows, missingPrompts: deps.missingPrompts })
    await api.register(adminRoutes, { db: deps.db, auth: apiAuth, onRevoke: () => { apiAuth.forget(); instanceAuth.forget() } })
    if (deps.audio) await api.register(audioRoutes, { auth: apiAuth, storage: deps.audio })
    await api.register(campaignRoutes, { auth: apiAuth, dialer: deps.dialerInstance, csvBodyLimit: options.csvBodyLimit })
  }, { prefix: '/api/v1' })
  await app.register(dashboardPlugin, { db: deps.db, auth: apiAuth, metrics })

  await app.register(healthRoutes, {
    db: deps.db,
    registry: metrics.registry,
    cacheUp: () => deps.cache.stats?.().servers.every((s) => s.up) ?? true,
  })
  return app
}
