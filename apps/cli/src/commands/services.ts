import type { Command } from 'commander'
import { print } from '../output.ts'

// The heavy parts (pg, probes, starters) load only when a services command runs.
async function manager () {
  const { loadConfig } = await import('@federate/config')
  const { ServicesManager } = await import('../services/manager.ts')
  const { servicesSpec } = await import('../services/targets.ts')
  const report = (line: string): void => { process.stderr.write(`federate services: ${line}\n`) }
  return new ServicesManager(loadConfig(servicesSpec), { report })
}

function table (rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')
}

type Row = { name: string, label: string, address: string, answering: boolean, startedBy: string | null, pid: number | null, dataDir: string | null, local: boolean }

function who (r: Row): string {
  if (r.startedBy === 'federate') return `federate (pid ${r.pid}${r.dataDir ? `, data ${r.dataDir}` : ''})`
  if (r.startedBy === 'external') return r.local ? 'external' : 'external (remote)'
  return '-'
}

export function register (program: Command): void {
  const services = program
    .command('services')
    .description('make PostgreSQL, Redis, Memcached and an S3 server reachable on this machine')
    .addHelpText('after', `
Addresses come from the same settings the apps use: DATABASE_URL, REDIS_URL,
MEMCACHED_SERVERS (and CACHE_ENABLED), S3_ENDPOINT. A service that already answers there
is reused; a missing one on a loopback address is started with its data in .data/<service>/
(pid files in .data/run/, logs in .data/log/; FEDERATE_DATA_DIR moves it all).

Examples:
  $ federate services up                  start what is missing, reuse what answers
  $ federate services status --json       who answers where, as JSON
  $ MEMCACHED_SERVERS=127.0.0.1:11311 federate services up
  $ federate services down --purge        stop what federate started and delete its data`)

  services
    .command('up')
    .description('reuse what answers, install (as root, with apt-get) and start what is missing; exit 3 if a service cannot be made reachable')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }) => {
      const results = await (await manager()).up()
      print(opts.json, results, () => table([
        ['SERVICE', 'ADDRESS', 'ACTION', 'STARTED BY'],
        ...results.map((r) => [r.label, r.address, r.action, who(r)]),
      ]))
    })

  services
    .command('status')
    .description('show each service: address, whether it answers, and who started it')
    .option('--json', 'print the status as JSON')
    .action(async (opts: { json?: boolean }) => {
      const results = await (await manager()).status()
      print(opts.json, results, () => table([
        ['SERVICE', 'ADDRESS', 'ANSWERING', 'STARTED BY'],
        ...results.map((r) => [r.label, r.address, r.answering ? 'yes' : 'no', who(r)]),
      ]))
    })

  services
    .command('down')
    .description('stop the servers federate started (external ones are left alone)')
    .option('--purge', 'also delete their data directories (.data/<service>)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean, purge?: boolean }) => {
      const results = await (await manager()).down({ purge: opts.purge })
      print(opts.json, results, () => results.length === 0
        ? 'nothing to stop'
        : table([
          ['SERVICE', 'ACTION', 'PID', 'PURGED'],
          ...results.map((r) => [r.label, r.action, r.pid === null ? '-' : String(r.pid), r.purged ?? '-']),
        ]))
    })
}
