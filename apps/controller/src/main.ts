import { pino, type Logger } from 'pino'
import { loadConfig, redacted, redisSettings } from '@federate/config'
import { createPool } from '@federate/db'
import { createController, type Controller } from './controller.ts'
import { createProviderFromConfig } from './providers.ts'
import { controllerSettings, type ControllerConfig } from './settings.ts'

/**
 * `federate controller`: reads the configuration once, opens the pool, the provider and the
 * dialer (for settling a lost instance's campaign attempts), starts leader election and the loop.
 * SIGINT/SIGTERM close it: the pass in progress finishes, the lock is released, a standby takes over.
 */
export async function runController (opts: { env?: Record<string, string | undefined>, overrides?: Partial<ControllerConfig>, logger?: Logger, handleSignals?: boolean } = {}): Promise<{ controller: Controller, close: () => Promise<void> }> {
  const config = { ...loadConfig(controllerSettings, { env: opts.env }), ...opts.overrides }
  const logger = opts.logger ?? pino({ level: config.logLevel, redact: { paths: ['*.token', '*.databaseUrl'], censor: '[redacted]' } })
  logger.info({ config: redacted(controllerSettings, config) }, 'starting controller')
  const pool = createPool(config.databaseUrl, { max: 4, logger, applicationName: 'federate-controller' })
  const provider = createProviderFromConfig(config, { logger })
  // The dialer settles campaign attempts; it talks to Redis for its queues, which settling never uses.
  const { createDialer } = await import('@federate/dialer')
  const dialer = createDialer({ pool, redisUrl: loadConfig(redisSettings, { env: opts.env }).redisUrl, logger })
  const controller = createController(config, {
    pool,
    provider,
    logger,
    settleAttempts: async (id) => await dialer.settleInstanceLost(id),
    openAttempts: async (id) => (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM attempts WHERE instance_id = $1 AND outcome IS NULL', [id])).rows[0]!.n,
  })
  controller.start()
  let closing: Promise<void> | undefined
  const close = async () => {
    closing ??= (async () => {
      await controller.close()
      await provider.close()
      await dialer.close()
      await pool.close()
      logger.info('controller closed')
    })()
    await closing
  }
  if (opts.handleSignals ?? true) {
    const onSignal = (signal: string) => {
      logger.info({ signal }, 'closing')
      close().then(() => process.exit(0), (err) => { logger.error({ err }, 'close failed'); process.exit(1) })
    }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
  }
  return { controller, close }
}
