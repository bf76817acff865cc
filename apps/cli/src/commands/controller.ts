import type { Command } from 'commander'
import { withDatabase } from '../db-context.ts'
import { CliError, EXIT, print } from '../output.ts'

// `federate controller`: the autoscaler (leader-elected; run two for a standby), its cost report
// and its decision history.

const parseDate = (name: string) => (v: string): Date => {
  const d = new Date(v)
  if (Number.isNaN(d.getTime())) throw new CliError(`${name} must be a date (ISO 8601, e.g. 2026-03-01 or 2026-03-01T12:00:00Z), got ${JSON.stringify(v)}`, EXIT.USAGE)
  return d
}

const money = (n: number) => `$${n.toFixed(2)}`
const hours = (s: number) => `${(s / 3600).toFixed(1)} h`

export function register (program: Command): void {
  const cmd = program.command('controller')
    .description('the autoscaler: grows and shrinks the fleet with the load, drains before it terminates')
    .addHelpText('after', `
Settings come from the environment (federate controller settings lists them): FEDERATE_PROVIDER
(local | ec2), FEDERATE_SCALE_MIN/MAX, FEDERATE_CALLS_PER_INSTANCE, FEDERATE_AGENT_SERVERS, ...
Run two controllers for a standby: one leads (a PostgreSQL advisory lock), the other takes over
within seconds if the leader dies.

Examples:
  $ federate controller                                  run it (local simulated instances)
  $ FEDERATE_PROVIDER=ec2 FEDERATE_EC2_LAUNCH_TEMPLATE_ID=lt-0abc federate controller
  $ federate controller cost --from 2026-03-01 --json     what the fleet cost, vs a fixed fleet
  $ federate controller decisions --limit 20              why it scaled`)

  cmd.command('run', { isDefault: true })
    .description('run the controller (leader election and the reconcile loop) until SIGINT/SIGTERM')
    .action(async () => {
      const { runController } = await import('@federate/controller')
      try {
        const { controller } = await runController()
        process.stderr.write(`federate: controller ${controller.id} started (${controller.config.provider} provider, ${controller.config.min}-${controller.config.max} instances); waiting for the leader lock\n`)
      } catch (err) {
        if ((err as { code?: string }).code === 'FED_CONFIG_INVALID' || (err as { code?: string }).code === 'FED_CONTROLLER_INVALID_CONFIG') {
          throw new CliError((err as Error).message, EXIT.USAGE, { cause: err })
        }
        throw err
      }
    })

  cmd.command('cost')
    .description('instance time and cost per day and per campaign, next to a fixed fleet sized for the peak')
    .option('--from <date>', 'start of the period (default: 7 days ago)', parseDate('--from'))
    .option('--to <date>', 'end of the period (default: now)', parseDate('--to'))
    .option('--json', 'print as JSON')
    .action(async (opts: { from?: Date, to?: Date, json?: boolean }) => {
      const { loadConfig } = await import('@federate/config')
      const { controllerSettings, readCost } = await import('@federate/controller')
      if (opts.from && opts.to && opts.from >= opts.to) throw new CliError('--from must be before --to', EXIT.USAGE)
      const config = loadConfig(controllerSettings)
      const report = await withDatabase(async (pool) => await readCost(pool, { from: opts.from, to: opts.to, prices: config.prices }))
      print(opts.json, report, () => [
        `period ${report.from} .. ${report.to}`,
        `autoscaled fleet: ${hours(report.instanceSeconds)} of instances, ${money(report.cost)}`,
        `fixed fleet for the peak (${report.fixed.instances} instances): ${hours(report.fixed.instanceSeconds)}, ${money(report.fixed.cost)}`,
        `saved ${money(report.savings.cost)} (${report.savings.percent}%)`,
        ...(report.byDay.length ? ['by day:', ...report.byDay.map((d) => `  ${d.day}  ${hours(d.instanceSeconds).padStart(9)}  ${money(d.cost)}`)] : []),
        ...(report.byCampaign.length ? ['by campaign (shared by call-seconds):', ...report.byCampaign.map((c) => `  ${(c.campaignId ?? '(no campaign)').padEnd(24)} ${hours(c.instanceSeconds).padStart(9)}  ${money(c.cost)}`)] : []),
        ...(report.idle.instanceSeconds ? [`idle (days without calls): ${hours(report.idle.instanceSeconds)}, ${money(report.idle.cost)}`] : []),
        ...(report.unpriced.length ? [`no price for: ${report.unpriced.join(', ')} (counted at 0; set FEDERATE_PRICES)`] : []),
      ].join('\n'))
    })

  cmd.command('decisions')
    .description('the latest scaling decisions and why they were taken')
    .option('--limit <n>', 'how many (newest first)', '20')
    .option('--json', 'print as JSON')
    .action(async (opts: { limit: string, json?: boolean }) => {
      const limit = Number(opts.limit)
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new CliError(`--limit must be an integer from 1 to 10000, got ${JSON.stringify(opts.limit)}`, EXIT.USAGE)
      const { listDecisions } = await import('@federate/controller')
      const list = await withDatabase(async (pool) => await listDecisions(pool, { limit }))
      print(opts.json, list, () => list.length === 0
        ? 'no scaling decisions yet'
        : list.map((d) => `${d.at.toISOString()} ${d.action.padEnd(13)} ${String(d.observed).padStart(3)} -> ${String(d.desired).padEnd(3)} ${d.reason}`).join('\n'))
    })

  cmd.command('settings')
    .description('print the controller\'s settings (environment variables) as a table')
    .action(async () => {
      const { settingsTable } = await import('@federate/config')
      const { controllerSettings } = await import('@federate/controller')
      process.stdout.write(settingsTable(controllerSettings) + '\n')
    })
}
