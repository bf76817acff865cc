import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { createAgent } from './agent.ts'
import { loadAgentConfig } from './load-config.ts'

/**
 * Runs the agent as this process: config, logger, start, and a graceful shutdown on
 * SIGTERM/SIGINT (steps in progress finish, call ends are sent or spooled).
 */
export async function runAgent (opts: { configFile?: string } = {}): Promise<void> {
  const config = await loadAgentConfig({ file: opts.configFile })
  const logger = pino({ level: config.logLevel, redact: ['instanceToken', 'amiSecret', '*.instanceToken', '*.amiSecret'] })
  const agent = createAgent(config, { logger })
  closeWithGrace({ delay: 15_000, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'agent stopping after an error')
    else logger.info({ signal }, 'agent stopping')
    await agent.close()
  })
  await agent.start()
}
