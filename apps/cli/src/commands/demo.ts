import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { CliError, EXIT, print } from '../output.ts'

const SPEEDS: Record<string, number> = { normal: 10, high: 30 }

function positive (name: string, integer = true) {
  return (v: string): number => {
    const n = Number(v)
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new CliError(`${name} must be a positive ${integer ? 'integer' : 'number'}, got ${v}`, EXIT.USAGE)
    return n
  }
}

export function register (program: Command): void {
  program
    .command('demo')
    .description('the whole system on this machine: local services, two app servers, a controller growing a simulated fleet, an election campaign, a live dashboard, then a report')
    .option('--speed <x>', 'simulated time speed: normal (10x), high (30x) or a number', 'normal')
    .option('--contacts <n>', 'contacts in the campaign', positive('--contacts'), 20000)
    .option('--rate <cps>', 'campaign dial rate, calls per second', positive('--rate', false), 100)
    .option('--max-instances <n>', 'most simulated instances the controller may run', positive('--max-instances'), 8)
    .option('--port <port>', 'first app server port (the second uses the next one)', positive('--port'), 8080)
    .option('--database <name>', 'the demo\'s own database, dropped and recreated on each run', 'federate_demo')
    .option('--keep', 'keep everything running after the report (to look at the dashboard)')
    .option('--json', 'print the report as JSON (progress goes to stderr)')
    .addHelpText('after', `
Needs PostgreSQL, Redis, Memcached and S3: run \`federate services up\` first (scripts/demo does).
Each run uses a fresh database named federate_demo; the report is read back from it and also
written to .data/demo/report.json. Logs of the app servers, controller and instances go to
.data/log/demo/ and .data/run/demo-fleet/.

Examples:
  $ federate demo
  $ federate demo --speed high --contacts 2000 --json
  $ federate demo --keep            then open the dashboard URL it prints`)
    .action(async (opts: { speed: string, database: string, contacts: number, rate: number, maxInstances: number, port: number, keep?: boolean, json?: boolean }) => {
      const speed = SPEEDS[opts.speed] ?? Number(opts.speed)
      if (!Number.isFinite(speed) || speed <= 0) throw new CliError(`--speed must be normal, high or a positive number, got ${opts.speed}`, EXIT.USAGE)
      const dataDir = resolve(process.env.FEDERATE_DATA_DIR || '.data')
      const out = (line: string) => { (opts.json ? process.stderr : process.stdout).write(line + '\n') }
      const { runDemo } = await import('../demo/run.ts')
      const { formatReport } = await import('../demo/report.ts')
      const abort = new AbortController()
      const onSignal = () => { abort.abort() }
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(opts.database)) throw new CliError(`--database must be a plain lowercase PostgreSQL name, got ${opts.database}`, EXIT.USAGE)
      const report = await runDemo({ signal: abort.signal, database: opts.database, speed, contacts: opts.contacts, rateCps: opts.rate, maxInstances: opts.maxInstances, port: opts.port, keep: opts.keep ?? false, json: opts.json ?? false, dataDir, out })
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      mkdirSync(join(dataDir, 'demo'), { recursive: true })
      writeFileSync(join(dataDir, 'demo', 'report.json'), JSON.stringify(report, null, 2))
      if (!opts.keep || opts.json) print(opts.json, report, () => formatReport(report))
      if (abort.signal.aborted) process.exitCode = EXIT.FAILURE
    })
}
