import type { Command } from 'commander'
import { CliError, EXIT, print } from '../output.ts'

interface MigrateOpts { databaseUrl?: string, json?: boolean, down?: boolean }

export function register (program: Command): void {
  program
    .command('migrate')
    .description('create the database if it does not exist and apply pending schema migrations (safe to run from several machines at once)')
    .option('--database-url <url>', 'PostgreSQL URL (default: DATABASE_URL)')
    .option('--down', 'revert the last applied migration instead')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Exit codes: 0 done (or already up to date), 2 bad DATABASE_URL, 3 PostgreSQL does not answer.

Examples:
  $ federate migrate
  $ federate migrate --database-url postgres://federate@db.internal:5432/federate --json`)
    .action(async (opts: MigrateOpts) => {
      // Loaded here so other commands do not pay for pg and node-pg-migrate.
      const { ConfigError, databaseSettings, logSettings, loadConfig } = await import('@federate/config')
      const { DbError, describeDatabaseUrl, migrate } = await import('@federate/db')
      const { pino } = await import('pino')

      let config
      try {
        // The flag wins over DATABASE_URL; it is validated by the same schema.
        const database = opts.databaseUrl === undefined
          ? loadConfig(databaseSettings)
          : loadConfig(databaseSettings, { env: { DATABASE_URL: opts.databaseUrl } })
        config = { ...loadConfig(logSettings), ...database }
      } catch (err) {
        if (err instanceof ConfigError) throw new CliError(err.message.replace(/DATABASE_URL/g, opts.databaseUrl ? '--database-url' : 'DATABASE_URL'), EXIT.USAGE, { cause: err })
        throw err
      }

      const logger = pino({ level: config.logLevel === 'info' ? 'warn' : config.logLevel }, pino.destination(2))
      const where = describeDatabaseUrl(config.databaseUrl)
      let applied: string[]
      try {
        applied = await migrate(config.databaseUrl, { logger, direction: opts.down ? 'down' : 'up' })
      } catch (err) {
        if (err instanceof DbError && err.code === 'FED_DB_UNAVAILABLE') {
          const reason = (err.cause as { code?: string } | undefined)?.code ?? (err.cause as Error | undefined)?.message ?? 'no answer'
          throw new CliError(`PostgreSQL at ${where} does not answer (${reason}): check DATABASE_URL, or run \`federate services up\``, EXIT.UNAVAILABLE, { cause: err })
        }
        if (err instanceof DbError && err.code === 'FED_DB_INVALID_INPUT') throw new CliError(err.message, EXIT.USAGE, { cause: err })
        throw new CliError(`migrating ${where} failed: ${err instanceof Error ? err.message : String(err)}`, EXIT.FAILURE, { cause: err })
      }
      print(opts.json, { database: where, direction: opts.down ? 'down' : 'up', applied }, () => {
        if (applied.length === 0) return opts.down ? `${where}: nothing to revert` : `${where}: schema up to date`
        return `${where}: ${opts.down ? 'reverted' : 'applied'} ${applied.length} migration${applied.length === 1 ? '' : 's'}\n${applied.map((m) => `  ${m}`).join('\n')}`
      })
    })
}
