import type { TestContext } from 'node:test'
import pino from 'pino'
import { loadConfig } from '@federate/config'
import { createApiKey, issueInstanceToken, migrate } from '@federate/db'
import { buildApp, createServerDeps, serverSettings, type ServerDeps } from '@federate/server'
import { createTestDatabase, suffix } from '@federate/testkit'

export interface TestServer {
  url: string
  rpcUrl: string
  databaseUrl: string
  deps: ServerDeps
  adminKey: string
  tokenFor: (instanceId: string) => Promise<string>
  close: () => Promise<void>
}

/** Where the server listens; default a free port (0). */
export interface TestServerOptions { port?: number }

/**
 * A real app server on a free port over a fresh, migrated database and a private Memcached
 * key prefix; closed (and the database dropped) when the test ends. A server over `existingDb`
 * leaves that database alone; `opts.port` pins the port (a server that comes back on the same
 * address, as the agents know it).
 */
export async function startTestServer (t: TestContext, env: Record<string, string> = {}, existingDb?: string, opts: TestServerOptions = {}): Promise<TestServer> {
  const db = existingDb === undefined ? await createTestDatabase('fedsrv') : undefined
  const databaseUrl = existingDb ?? db!.url
  if (db) await migrate(databaseUrl)
  const config = loadConfig(serverSettings, {
    env: { DATABASE_URL: databaseUrl, CACHE_PREFIX: `t${suffix()}`, LOG_LEVEL: 'silent', FEDERATE_DIALER: 'false', FEDERATE_STORAGE: 'false', ...env },
  })
  const logger = pino({ level: config.logLevel })
  const deps = await createServerDeps(config, logger)
  const app = await buildApp(deps, { ...config, localFlowCache: config.cacheEnabled && config.localFlowCache, logger })
  const url = await app.listen({ port: opts.port ?? 0, host: '127.0.0.1' })
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await app.close()
    await deps.close()
    if (db) await db.drop()
  }
  t.after(close)
  const admin = await createApiKey(deps.pool, 'admin', 'test')
  return {
    url,
    rpcUrl: `${url}/RPC2`,
    databaseUrl,
    deps,
    adminKey: admin.key,
    tokenFor: async (instanceId) => await issueInstanceToken(deps.pool, instanceId),
    close,
  }
}
