import closeWithGrace from 'close-with-grace'
import { loadConfig, redacted } from '@federate/config'
import { buildApp } from './app.ts'
import { serverSettings } from './config.ts'
import { createServerDeps } from './deps.ts'
import { createLogger } from './logger.ts'

/**
 * `federate serve`: validate the configuration, open the dependencies, listen, and on SIGINT or
 * SIGTERM stop taking requests, finish the ones in flight, then close children before parents.
 */
export async function startServer (overrides: { port?: number, host?: string } = {}): Promise<{ url: string, close: () => Promise<void> }> {
  const config = loadConfig(serverSettings)
  const logger = createLogger({ level: config.logLevel })
  logger.info({ config: redacted(serverSettings, config) }, 'starting app server')
  const deps = await createServerDeps(config, logger)
  const app = await buildApp(deps, { ...config, localFlowCache: config.cacheEnabled && config.localFlowCache, logger })
  app.addHook('onClose', async () => { await deps.close() })
  const url = await app.listen({ port: overrides.port ?? config.port, host: overrides.host ?? config.host })
  logger.info({ url }, 'app server listening')
  const grace = closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'closing after an error')
    else logger.info({ signal }, 'closing')
    await app.close()
  })
  return {
    url,
    async close () {
      grace.uninstall()
      await app.close()
    },
  }
}
