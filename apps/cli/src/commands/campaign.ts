import { createWriteStream } from 'node:fs'
import { PassThrough } from 'node:stream'
import { finished } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Command } from 'commander'
import Type from 'typebox'
import { defineSettings, loadConfig, redisSettings } from '@federate/config'
import type { DbPool } from '@federate/db'
// Types only: the dialer (and Redis client) load when a campaign command runs, not on every `federate`.
import type { Campaign, CampaignStats, CampaignStatus, Dialer, DialerErrorCode } from '@federate/dialer'
import { withDatabase } from '../db-context.ts'
import { CliError, EXIT, print } from '../output.ts'

// The same settings the app servers read: the CLI must use their Redis and key prefix, so that
// pause and stop empty the queues the servers dispatch from.
const dialerCliSettings = defineSettings({
  ...redisSettings,
  dialerPrefix: {
    env: 'DIALER_PREFIX',
    schema: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }),
    default: 'fed:dialer',
    description: 'Redis key prefix of the campaign queues (as on the app servers)',
  },
})

const CAMPAIGN_STATUSES = ['draft', 'running', 'paused', 'stopped', 'completed'] as const satisfies readonly CampaignStatus[]

function isDialerError (err: unknown): err is Error & { code: DialerErrorCode } {
  return err instanceof Error && err.name === 'DialerError' && typeof (err as { code?: unknown }).code === 'string'
}

/** A DialerError as a CLI error that says what to do next. */
export function cliErrorOf (err: unknown, hint: { campaignId?: string, flowId?: string } = {}): unknown {
  if (!isDialerError(err)) return err
  switch (err.code) {
    case 'FED_DIALER_NOT_FOUND':
      return new CliError(`no campaign ${hint.campaignId ?? ''}: list them with \`federate campaign list\``.replace('  ', ' '), EXIT.USAGE, { cause: err })
    case 'FED_DIALER_FLOW_NOT_FOUND':
      return new CliError(`no flow ${hint.flowId ?? err.message.replace(/^.*: flow /, '')}: publish it with \`federate flows push <file.json>${hint.flowId ? ` --id ${hint.flowId}` : ''}\``, EXIT.USAGE, { cause: err })
    case 'FED_DIALER_INVALID_INPUT':
    case 'FED_DIALER_BAD_CSV':
      return new CliError(err.message, EXIT.USAGE, { cause: err })
    case 'FED_DIALER_BAD_STATE':
      return new CliError(`${err.message.replace(/^.*?: /, '')} (see \`federate campaign status ${hint.campaignId ?? '<id>'}\`)`, EXIT.FAILURE, { cause: err })
    case 'FED_DIALER_UNAVAILABLE':
      return new CliError(`${err.message}: check DATABASE_URL and REDIS_URL (\`federate services up\` starts them locally)`, EXIT.UNAVAILABLE, { cause: err })
    default:
      return new CliError(err.message, EXIT.FAILURE, { cause: err })
  }
}

/**
 * Runs `fn` with a dialer on DATABASE_URL and REDIS_URL, and closes both. Redis connects only
 * when a command needs it (pause and stop empty the campaign's queue), so creating, importing
 * and reading work while Redis is down.
 */
export async function withDialer<T> (fn: (dialer: Dialer, pool: DbPool) => Promise<T>, hint: { campaignId?: string, flowId?: string } = {}): Promise<T> {
  const config = loadConfig(dialerCliSettings)
  const { createDialer } = await import('@federate/dialer')
  const { Redis } = await import('ioredis')
  return await withDatabase(async (pool) => {
    const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true })
    connection.on('error', () => {}) // the dialer reports queue errors itself (rate-limited)
    const dialer = createDialer({ pool, connection, prefix: config.dialerPrefix, redisTimeoutMs: 2000 })
    try {
      return await fn(dialer, pool)
    } catch (err) {
      throw cliErrorOf(err, hint)
    } finally {
      await dialer.close()
      connection.disconnect()
    }
  })
}

// --- option parsing (exported for tests) --------------------------------------------------------

function num (flag: string, value: string, { integer = false, min = 0, exclusive = false } = {}): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || (exclusive ? n <= min : n < min)) {
    throw new CliError(`${flag} must be ${integer ? 'a whole number' : 'a number'} ${exclusive ? 'above' : 'of at least'} ${min} (got ${JSON.stringify(value)})`, EXIT.USAGE)
  }
  return n
}

/** `09:00-21:00` (local time of each contact; `22:00-02:00` spans midnight). */
export function parseWindow (value: string, days?: string): { start: string, end: string, days?: number[] } {
  const m = /^(\d\d:\d\d)-(\d\d:\d\d)$/.exec(value.trim())
  if (!m) throw new CliError(`--window must be HH:MM-HH:MM, e.g. 09:00-21:00 (got ${JSON.stringify(value)})`, EXIT.USAGE)
  const w: { start: string, end: string, days?: number[] } = { start: m[1]!, end: m[2]! }
  if (days !== undefined) {
    const list = days.split(',').flatMap((part) => {
      const r = /^([0-6])(?:-([0-6]))?$/.exec(part.trim())
      if (!r) throw new CliError(`--days must list days 0 (Sunday) to 6, e.g. 1-5 or 1,3,5 (got ${JSON.stringify(days)})`, EXIT.USAGE)
      const a = Number(r[1])
      const b = r[2] === undefined ? a : Number(r[2])
      return Array.from({ length: Math.max(0, b - a + 1) }, (_, i) => a + i)
    })
    w.days = [...new Set(list)].sort()
  }
  return w
}

const OUTCOME_NAMES = ['busy', 'noanswer', 'failed', 'machine', 'lost']

/** `busy=300,noanswer=1800*2,machine=no`: seconds before a retry (`*f` backoff), or `no`. */
export function parseRetry (value: string): Record<string, { retry: boolean, delaySec?: number, backoff?: number }> {
  const policy: Record<string, { retry: boolean, delaySec?: number, backoff?: number }> = {}
  for (const part of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([a-z]+)=(no|none|off|(\d+)(?:\*(\d+(?:\.\d+)?))?)$/.exec(part)
    if (!m || !OUTCOME_NAMES.includes(m[1]!)) {
      throw new CliError(`--retry takes outcome=seconds[*backoff] or outcome=no for ${OUTCOME_NAMES.join(', ')}, e.g. busy=300,noanswer=1800*2,machine=no (got ${JSON.stringify(part)})`, EXIT.USAGE)
    }
    policy[m[1]!] = m[3] === undefined
      ? { retry: false }
      : { retry: true, delaySec: Number(m[3]), ...(m[4] !== undefined ? { backoff: Number(m[4]) } : {}) }
  }
  return policy
}

// --- output ---------------------------------------------------------------------------------------

function pct (x: number): string {
  return `${(x * 100).toFixed(1)}%`
}

function campaignLine (c: Campaign): string {
  return `${c.id}  ${c.status}  "${c.name}"  flow ${c.flowId}${c.flowVersion ? `@${c.flowVersion}` : ''}  ${c.rateCps} cps  max ${c.maxConcurrent} concurrent  window ${c.window.start}-${c.window.end}`
}

/** The human status screen of one campaign. */
export function formatStatus (c: Campaign, s: CampaignStats): string {
  const k = s.contacts
  const lines = [
    campaignLine(c),
    `contacts  ${k.total} total: ${k.pending} pending, ${k.queued} queued, ${k.leased} leased, ${k.dialing} dialing, ${k.done} done, ${k.failed} failed`,
    `attempts  ${s.attempts} (${s.dialled} dialled, ${s.expired} expired, ${s.open} open)  answer rate ${pct(s.answerRate)}`,
    `outcomes  ${Object.entries(s.outcomes).map(([o, n]) => `${o} ${n}`).join('  ')}`,
    `rate      ${s.cps.toFixed(2)} calls/s over the last ${s.windowSec} s (target ${c.rateCps}); ${s.concurrent} concurrent`,
  ]
  if (s.results.length > 0) {
    const byKey = new Map<string, string[]>()
    for (const r of s.results) {
      const key = `${r.node}.${r.key}`
      byKey.set(key, [...(byKey.get(key) ?? []), `${r.value}=${r.count}`])
    }
    lines.push(...[...byKey].map(([key, values], i) => `${i === 0 ? 'results' : '       '}   ${key}: ${values.join('  ')}`))
  }
  return lines.join('\n')
}

/** A reader that went away (`| head`) ends the command quietly, as Unix tools do. */
function quietOnClosedStdout (): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.OK)
    throw err
  })
}

// --- commands -------------------------------------------------------------------------------------

interface CreateOpts {
  id?: string
  name: string
  flow: string
  flowVersion?: string
  callerId: string
  rate: string
  maxConcurrent: string
  ringTimeout?: string
  window?: string
  days?: string
  retry?: string
  maxAttempts?: string
  json?: boolean
}

export function register (program: Command): void {
  const cmd = program.command('campaign').description('outbound campaigns: create, start, pause, resume, stop, watch, export')
    .addHelpText('after', `
A campaign dials its contacts (\`federate contacts import\`) at --rate calls per second, inside
the calling window of each contact's time zone, and runs a published flow on every call.
The CLI talks to PostgreSQL (DATABASE_URL) and Redis (REDIS_URL, DIALER_PREFIX) directly.

Examples:
  $ federate flows push examples/flows/poll.json --id poll
  $ federate campaign create --name "Spring poll" --flow poll --caller-id +15550001111 --rate 20 --max-concurrent 200
  $ federate contacts import contacts.csv --campaign cmp_1a2b3c --default-country US
  $ federate campaign start cmp_1a2b3c
  $ federate campaign status cmp_1a2b3c --watch
  $ federate campaign export cmp_1a2b3c --out results.csv`)

  cmd.command('create')
    .description('create a draft campaign (start it with `federate campaign start <id>`)')
    .requiredOption('--name <name>', 'a name for people')
    .requiredOption('--flow <flowId>', 'the published flow every call runs')
    .option('--flow-version <n>', 'pin a flow version (default: the latest at start)')
    .requiredOption('--caller-id <number>', 'the caller id of every call')
    .requiredOption('--rate <cps>', 'calls per second (fractions allowed: 0.5 = one call every 2 s)')
    .requiredOption('--max-concurrent <n>', 'most calls queued, ringing or talking at once')
    .option('--ring-timeout <sec>', 'how long the phone rings (default 30)')
    .option('--window <HH:MM-HH:MM>', 'calling hours in each contact\'s local time (default 09:00-21:00)')
    .option('--days <list>', 'days the window opens, 0 = Sunday: e.g. 1-5 (default every day)')
    .option('--retry <rules>', 'retry rules: outcome=seconds[*backoff] or outcome=no, e.g. busy=300,noanswer=1800*2,machine=no')
    .option('--max-attempts <n>', 'dialled attempts per contact (default 3)')
    .option('--id <id>', 'campaign id (default: generated cmp_…)')
    .option('--json', 'print as JSON')
    .addHelpText('after', `
Examples:
  $ federate campaign create --name "Spring poll" --flow poll --caller-id +15550001111 --rate 20 --max-concurrent 200
  $ federate campaign create --id spring --name Spring --flow poll --flow-version 3 --caller-id 100 \\
      --rate 0.5 --max-concurrent 5 --window 10:00-19:30 --days 1-5 --retry busy=120,noanswer=3600*2 --max-attempts 4 --json`)
    .action(async (opts: CreateOpts) => {
      const input = {
        ...(opts.id !== undefined ? { id: opts.id } : {}),
        name: opts.name,
        flowId: opts.flow,
        ...(opts.flowVersion !== undefined ? { flowVersion: num('--flow-version', opts.flowVersion, { integer: true, min: 1 }) } : {}),
        callerId: opts.callerId,
        rateCps: num('--rate', opts.rate, { min: 0, exclusive: true }),
        maxConcurrent: num('--max-concurrent', opts.maxConcurrent, { integer: true, min: 1 }),
        ...(opts.ringTimeout !== undefined ? { ringTimeoutSec: num('--ring-timeout', opts.ringTimeout, { integer: true, min: 1 }) } : {}),
        ...(opts.window !== undefined || opts.days !== undefined ? { window: parseWindow(opts.window ?? '09:00-21:00', opts.days) } : {}),
        ...(opts.retry !== undefined ? { retryPolicy: parseRetry(opts.retry) } : {}),
        ...(opts.maxAttempts !== undefined ? { maxAttempts: num('--max-attempts', opts.maxAttempts, { integer: true, min: 1 }) } : {}),
      }
      const c = await withDialer(async (d) => await d.create(input), { flowId: opts.flow, campaignId: opts.id })
      print(opts.json, c, () => `created ${c.id} (draft)\n${campaignLine(c)}\nnext: federate contacts import <file.csv> --campaign ${c.id}; then federate campaign start ${c.id}`)
    })

  const actions = {
    start: 'start dialling a draft campaign (pins the flow\'s latest version unless one was given)',
    pause: 'stop handing out new calls; calls in progress finish',
    resume: 'continue a paused campaign',
    stop: 'end a campaign for good; calls in progress finish',
  } as const
  for (const [action, description] of Object.entries(actions) as Array<[keyof typeof actions, string]>) {
    cmd.command(`${action} <id>`)
      .description(description)
      .option('--json', 'print as JSON')
      .addHelpText('after', `\nExample:\n  $ federate campaign ${action} cmp_1a2b3c`)
      .action(async (id: string, opts: { json?: boolean }) => {
        const c = await withDialer(async (d) => await d[action](id), { campaignId: id })
        print(opts.json, c, () => `${c.id} is ${c.status}`)
      })
  }

  cmd.command('status <id>')
    .description('contacts, attempts, outcomes, answer rate, achieved calls per second, poll results')
    .option('--json', 'print as JSON ({campaign, stats}; one line per second with --watch)')
    .option('--watch', 'redraw every second until Ctrl-C')
    .addHelpText('after', `
Examples:
  $ federate campaign status cmp_1a2b3c
  $ federate campaign status cmp_1a2b3c --watch
  $ federate campaign status cmp_1a2b3c --json | jq .stats.outcomes`)
    .action(async (id: string, opts: { json?: boolean, watch?: boolean }) => {
      await withDialer(async (d) => {
        const snapshot = async () => {
          const campaign = await d.get(id)
          return { campaign, stats: await d.stats(id) }
        }
        quietOnClosedStdout()
        if (!opts.watch) {
          const s = await snapshot()
          print(opts.json, s, () => formatStatus(s.campaign, s.stats))
          return
        }
        const stop = new AbortController()
        const onSigint = () => stop.abort()
        process.once('SIGINT', onSigint)
        const tty = process.stdout.isTTY && !opts.json
        try {
          while (!stop.signal.aborted) {
            const s = await snapshot()
            if (opts.json) process.stdout.write(JSON.stringify(s) + '\n')
            else process.stdout.write(`${tty ? '\x1b[H\x1b[2J' : ''}${formatStatus(s.campaign, s.stats)}\n${tty ? `\n${new Date().toLocaleTimeString()}  Ctrl-C to quit\n` : '\n'}`)
            await sleep(1000, undefined, { signal: stop.signal }).catch(() => {})
          }
        } finally {
          process.off('SIGINT', onSigint)
        }
      }, { campaignId: id })
    })

  cmd.command('list')
    .description('campaigns, oldest first')
    .option('--status <status>', `only these: ${CAMPAIGN_STATUSES.join(', ')}`)
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  $ federate campaign list\n  $ federate campaign list --status running --json')
    .action(async (opts: { status?: string, json?: boolean }) => {
      if (opts.status !== undefined && !(CAMPAIGN_STATUSES as readonly string[]).includes(opts.status)) {
        throw new CliError(`--status must be one of ${CAMPAIGN_STATUSES.join(', ')} (got ${JSON.stringify(opts.status)})`, EXIT.USAGE)
      }
      const list = await withDialer(async (d) => await d.list({ status: opts.status as CampaignStatus | undefined }))
      print(opts.json, list, () => list.length === 0
        ? 'no campaigns yet: federate campaign create --help'
        : list.map(campaignLine).join('\n'))
    })

  cmd.command('export <id>')
    .description('every attempt and its results as CSV (streamed; stdout unless --out)')
    .option('--out <file>', 'write to this file')
    .addHelpText('after', '\nExamples:\n  $ federate campaign export cmp_1a2b3c --out results.csv\n  $ federate campaign export cmp_1a2b3c | head')
    .action(async (id: string, opts: { out?: string }) => {
      await withDialer(async (d) => {
        await d.get(id) // an unknown id fails before a file is created
        if (opts.out === undefined) {
          quietOnClosedStdout()
          // stdout cannot be ended: stream through a pass-through that is.
          const pass = new PassThrough()
          pass.pipe(process.stdout, { end: false })
          const n = await d.exportCsv(id, pass)
          await finished(pass)
          return n
        }
        const file = createWriteStream(opts.out)
        const done = finished(file)
        let n: number
        try {
          n = await d.exportCsv(id, file)
        } catch (err) {
          file.destroy()
          throw err
        }
        await done.catch((err: unknown) => { throw new CliError(`cannot write ${opts.out}: ${(err as Error).message}`, EXIT.FAILURE) })
        process.stderr.write(`exported ${n} attempts to ${opts.out}\n`)
        return n
      }, { campaignId: id })
    })
}
