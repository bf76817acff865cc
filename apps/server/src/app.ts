import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { GroupCommitter, Queryable } from '@federate/db'
import type { Keyring } from '@federate/flows'
import { xmlrpcPlugin } from '@federate/xmlrpc'
import { createApiKeyAuth } from './auth/api-key-auth.ts'
import { createInstanceAuthenticator } from './auth/instance-auth.ts'
import { createFlowSource, type ReadThroughCache } from './flow-source.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { createRpcRegistry } from './rpc/methods.ts'
import type { OutboundCalls } from './rpc/outbound.ts'
import type { DialerService, StorageService } from './rpc/services.ts'
import { adminRoutes } from './routes/admin.ts'
import { flowRoutes } from './routes/flows.ts'
import { healthRoutes } from './routes/health.ts'

export { serverSettings } from './config.ts'
export { createServerDeps } from './deps.ts'
export type { ServerDeps } from './deps.ts'
export { startServer } from './main.ts'
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
  storage?: StorageService
  missingPrompts?: (names: string[]) => Promise<string[]>
}

export interface AppOptions {
  bodyLimit: number
  trustProxy: boolean
  stateTtlSec: number
  authCacheSec: number
  httpAllowList: readonly string[]
  httpTimeoutMs: number
  /** Keep parsed flow versions in memory too (default true). */
  localFlowCache?: boolean
  logger?: FastifyServerOptions['logger'] | FastifyServerOptions['loggerInstance']
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
    trustProxy: options.trustProxy,
    // Keep-alive longer than a typical load balancer's idle timeout, so it closes first.
    keepAliveTimeout: 65_000,
    requestTimeout: 30_000,
    // Unknown fields are an error, not silently dropped (Fastify's default strips them).
    ajv: { customOptions: { removeAdditional: false } },
    // Request lines for operators' REST calls; none for the hot paths (instances, scrapers).
    logController: new LogController({ disableRequestLogging: (request) => QUIET_PATHS.has(request.url) }),
  })
  const metrics = deps.metrics ?? createMetrics()
  const flows = createFlowSource(deps.db, deps.cache, { local: options.localFlowCache ?? true })
  const instanceAuth = createInstanceAuthenticator(deps.db, metrics, options.authCacheSec)
  const apiAuth = createApiKeyAuth(deps.db, metrics, options.authCacheSec)

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
  }, { prefix: '/api/v1' })

  await app.register(healthRoutes, {
    db: deps.db,
    registry: metrics.registry,
    cacheUp: () => deps.cache.stats?.().servers.every((s) => s.up) ?? true,
  })
  return app
}
