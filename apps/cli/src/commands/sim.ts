import type { Command } from 'commander'
import { CliError, EXIT, print } from '../output.ts'

interface SimOpts {
  instances: string
  capacity: string
  speed: string
  seed: string
  inboundCps?: string
  number?: string
  servers?: string
  token?: string
  tokensFile?: string
  profile?: string
  workDir?: string
  amiPortBase: string
  amiSecret: string
  agiTarget?: string
  idPrefix: string
  checkPrompts: boolean
  statsEvery: string
  duration?: string
  grace: string
  logLevel: string
  json?: boolean
}

const positiveInt = (name: string, v: string, max = 100000): number => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1 || n > max) throw new CliError(`${name} must be an integer from 1 to ${max}, got ${JSON.stringify(v)}`, EXIT.USAGE)
  return n
}
const nonNegative = (name: string, v: string): number => {
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) throw new CliError(`${name} must be a number >= 0, got ${JSON.stringify(v)}`, EXIT.USAGE)
  return n
}

export function register (program: Command): void {
  program
    .command('sim')
    .description('run simulated Asterisk instances (AMI + the dialplan\'s FastAGI loop + seeded callers), each with its own agent, in one process')
    .option('--instances <n>', 'simulated instances', '1')
    .option('--capacity <n>', 'concurrent calls per instance', '100')
    .option('--speed <x>', 'simulated time runs x times faster than real time', '1')
    .option('--seed <s>', 'seed for every callee model (same seed, same calls)', '1')
    .option('--inbound-cps <rate>', 'inbound calls per simulated second over the whole fleet (Poisson), with --number')
    .option('--number <did>', 'the dialled number (extension and DNID) of inbound calls')
    .option('--servers <urls>', 'app servers\' XML-RPC URLs, comma-separated (default: FEDERATE_SERVERS, else http://127.0.0.1:8080/RPC2)')
    .option('--token <token>', 'instance token for every agent (default: FEDERATE_INSTANCE_TOKEN)')
    .option('--tokens-file <file.json>', 'one token per instance: a JSON object {"<instance id>": "<token>", ...} (instead of --token)')
    .option('--profile <file.json>', 'callee profile (JSON; unnamed fields keep their defaults)')
    .option('--work-dir <dir>', 'per-instance spool, sounds and recordings folders (default: a temporary folder, removed at exit)')
    .option('--ami-port-base <port>', 'AMI port of the first instance, the next ones follow (0: free ports)', '0')
    .option('--ami-secret <secret>', 'AMI secret of user `federate` on every instance', 'federate')
    .option('--agi-target <host:port>', 'send FastAGI to an agent that is already running instead of starting agents (one instance per target, comma-separated)')
    .option('--id-prefix <prefix>', 'instance ids are <prefix>1, <prefix>2, ...', 'sim-')
    .option('--no-check-prompts', 'do not check prompts against each instance\'s sounds folder')
    .option('--stats-every <sec>', 'print live stats every sec seconds (0: never)', '5')
    .option('--duration <sec>', 'stop by itself after sec real seconds')
    .option('--grace <sec>', 'at shutdown, live calls get this long to end before they are cut', '10')
    .option('--log-level <level>', 'log level of the sim and agents (to stderr)', 'error')
    .option('--json', 'print the summary as JSON (live stats go to stderr as JSON lines)')
    .addHelpText('after', `
Simulated time: ring, prompt, talk and wait times are divided by --speed; --inbound-cps is per
simulated second. Ctrl-C (or SIGTERM) stops new calls, lets live calls end for --grace seconds,
cuts the rest (their hangup handlers still report call.end) and prints a summary.

Examples:
  $ federate sim --instances 34 --capacity 100 --speed 10 --seed 7 --tokens-file tokens.json   (tokens.json: {"sim-1": "fit_...", ...})
  $ federate sim --instances 2 --inbound-cps 5 --number +15551230000 --servers http://127.0.0.1:8080/RPC2
  $ federate sim --agi-target 127.0.0.1:4573 --ami-port-base 5038 --inbound-cps 1 --number 100`)
    .action(async (opts: SimOpts) => {
      const { readFile, mkdtemp, rm } = await import('node:fs/promises')
      const { tmpdir } = await import('node:os')
      const { join } = await import('node:path')
      const { pino } = await import('pino')
      const { loadConfig, defineSettings, ConfigError } = await import('@federate/config')
      const { createFleet, createSimulation, resolveProfile, SimError } = await import('@federate/sim')
      const Type = (await import('typebox')).default

      const instances = positiveInt('--instances', opts.instances, 1000)
      const capacity = positiveInt('--capacity', opts.capacity, 10000)
      const speed = nonNegative('--speed', opts.speed)
      if (speed === 0) throw new CliError('--speed must be > 0', EXIT.USAGE)
      const statsEvery = nonNegative('--stats-every', opts.statsEvery)
      const grace = nonNegative('--grace', opts.grace)
      const duration = opts.duration === undefined ? undefined : nonNegative('--duration', opts.duration)
      const amiPortBase = Number(opts.amiPortBase)
      if (!Number.isInteger(amiPortBase) || amiPortBase < 0 || amiPortBase + instances > 65536) throw new CliError(`--ami-port-base must be 0 or a port with room for ${instances} instances`, EXIT.USAGE)
      let inbound: { cps: number, number: string } | undefined
      if (opts.inboundCps !== undefined || opts.number !== undefined) {
        if (opts.inboundCps === undefined || !opts.number) throw new CliError('--inbound-cps and --number go together', EXIT.USAGE)
        if (!/^[+0-9A-Za-z*#_-]{1,79}$/.test(opts.number)) throw new CliError(`--number is not an extension: ${JSON.stringify(opts.number)}`, EXIT.USAGE)
        inbound = { cps: nonNegative('--inbound-cps', opts.inboundCps), number: opts.number }
      }
      if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(opts.logLevel)) throw new CliError(`--log-level must be one of fatal, error, warn, info, debug, trace, silent; got ${JSON.stringify(opts.logLevel)}`, EXIT.USAGE)
      const seed = /^\d+$/.test(opts.seed) ? Number(opts.seed) : opts.seed
      let profile: unknown = {}
      if (opts.profile) {
        try {
          profile = JSON.parse(await readFile(opts.profile, 'utf8'))
          resolveProfile(profile)
        } catch (err) {
          throw new CliError(`--profile ${opts.profile}: ${err instanceof Error ? err.message : String(err)}`, EXIT.USAGE, { cause: err })
        }
      }
      let targets: Array<{ host: string, port: number }> | undefined
      if (opts.agiTarget) {
        targets = opts.agiTarget.split(',').map((s) => {
          const m = /^([^:\s]+):(\d{1,5})$/.exec(s.trim())
          if (!m || Number(m[2]) > 65535) throw new CliError(`--agi-target wants host:port, got ${JSON.stringify(s)}`, EXIT.USAGE)
          return { host: m[1]!, port: Number(m[2]) }
        })
        if (targets.length !== 1 && targets.length !== instances) throw new CliError(`--agi-target names ${targets.length} agents for ${instances} instances`, EXIT.USAGE)
      }

      // The environment is read once, through the shared loader, for what flags may leave out.
      const envSpec = defineSettings({
        servers: { env: 'FEDERATE_SERVERS', schema: Type.Array(Type.String({ pattern: '^https?://' }), { minItems: 1 }), default: ['http://127.0.0.1:8080/RPC2'], description: 'app servers\' XML-RPC URLs' },
        token: { env: 'FEDERATE_INSTANCE_TOKEN', schema: Type.String(), default: '', description: 'instance token', secret: true },
      })
      let env
      try {
        env = loadConfig(envSpec, opts.servers ? { env: { FEDERATE_SERVERS: opts.servers } } : {})
      } catch (err) {
        if (err instanceof ConfigError) throw new CliError(err.message.replace('FEDERATE_SERVERS', opts.servers ? '--servers' : 'FEDERATE_SERVERS'), EXIT.USAGE, { cause: err })
        throw err
      }
      let token: string | Record<string, string> = opts.token ?? env.token
      if (opts.tokensFile) {
        if (opts.token) throw new CliError('--token and --tokens-file exclude each other', EXIT.USAGE)
        let parsed: unknown
        try {
          parsed = JSON.parse(await readFile(opts.tokensFile, 'utf8'))
        } catch (err) {
          throw new CliError(`--tokens-file ${opts.tokensFile}: ${err instanceof Error ? err.message : String(err)}`, EXIT.USAGE, { cause: err })
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !Object.values(parsed).every((v) => typeof v === 'string' && v.length > 0)) {
          throw new CliError(`--tokens-file ${opts.tokensFile}: must be a JSON object of instance id -> token`, EXIT.USAGE)
        }
        const byId = parsed as Record<string, string>
        token = byId
        // Every instance needs its token: name the first one missing now rather than at start.
        const missing = Array.from({ length: instances }, (_, i) => `${opts.idPrefix}${i + 1}`).find((id) => !Object.hasOwn(byId, id))
        if (missing && !targets) throw new CliError(`--tokens-file ${opts.tokensFile}: no token for instance ${missing}`, EXIT.USAGE)
      }
      if (!targets && !token) throw new CliError('the agents need an instance token: --token, --tokens-file or FEDERATE_INSTANCE_TOKEN (or --agi-target to use running agents)', EXIT.USAGE)

      const logger = pino({ level: opts.logLevel, redact: ['instanceToken', 'amiSecret', '*.instanceToken', '*.amiSecret'] }, pino.destination(2))
      const ownWorkDir = !opts.workDir
      const workDir = opts.workDir ?? await mkdtemp(join(tmpdir(), 'federate-sim-'))
      const common = { instances, capacity, speed, seed, profile, inbound, amiPortBase, idPrefix: opts.idPrefix, logger }

      let fleet
      let stopAll: (graceMs: number) => Promise<void>
      try {
        if (targets) {
          const t = targets
          fleet = createFleet({
            ...common,
            amiUsers: { federate: opts.amiSecret },
            agiTarget: (i) => t.length === 1 ? t[0]! : t[i]!,
            soundsDir: opts.checkPrompts ? (_i, id) => join(workDir, id, 'sounds') : undefined,
            recordingsDir: (_i, id) => join(workDir, id, 'recordings'),
          })
          const f = fleet
          await f.start()
          stopAll = async (graceMs) => { await f.stop({ graceMs }) }
        } else {
          const sim = createSimulation({
            ...common,
            workDir,
            servers: env.servers,
            token,
            amiSecret: opts.amiSecret,
            checkPrompts: opts.checkPrompts,
            agentSettings: { logLevel: opts.logLevel },
          })
          fleet = sim.fleet
          stopAll = async (graceMs) => { await sim.stop({ graceMs }) }
          try {
            await sim.start()
          } catch (err) {
            await sim.stop({ graceMs: 0 })
            throw err
          }
        }
      } catch (err) {
        if (ownWorkDir) await rm(workDir, { recursive: true, force: true })
        if (err instanceof SimError && err.code === 'FED_SIM_BAD_OPTIONS') throw new CliError(err.message, EXIT.USAGE, { cause: err })
        const code = (err as { code?: string }).code
        if (code === 'EADDRINUSE') throw new CliError(`an AMI port is taken (${(err as Error).message}): choose another --ami-port-base or 0`, EXIT.FAILURE, { cause: err })
        throw new CliError(`the simulation could not start: ${err instanceof Error ? err.message : String(err)}`, EXIT.FAILURE, { cause: err })
      }

      const t0 = Date.now()
      const ports = fleet.instances.map((i) => i.amiPort)
      const header = `federate sim: ${instances} instance${instances === 1 ? '' : 's'} x ${capacity} channels, speed ${speed}, seed ${opts.seed}` +
        `${targets ? `, agents at ${opts.agiTarget}` : `, agents -> ${env.servers.join(', ')}`}` +
        `\n  AMI ports ${ports.length > 4 ? `${ports.slice(0, 3).join(', ')} ... ${ports.at(-1)}` : ports.join(', ')}; work dir ${workDir}` +
        `${inbound ? `\n  inbound ${inbound.cps}/s to ${inbound.number}` : ''}`
      if (opts.json) process.stderr.write(JSON.stringify({ type: 'started', instances, capacity, speed, seed: opts.seed, amiPorts: ports, workDir }) + '\n')
      else process.stdout.write(header + '\n')

      let lastSteps = 0
      let lastAt = Date.now()
      const f = fleet
      const line = (): void => {
        const s = f.stats()
        const now = Date.now()
        const rate = (s.steps - lastSteps) / Math.max(0.001, (now - lastAt) / 1000)
        lastSteps = s.steps
        lastAt = now
        if (opts.json) {
          process.stderr.write(JSON.stringify({ type: 'stats', elapsedSec: Math.round((now - t0) / 1000), simSec: Math.round(f.clock.nowSec()), stepsPerSec: Math.round(rate), ...s }) + '\n')
          return
        }
        process.stdout.write(`[${String(Math.round((now - t0) / 1000)).padStart(5)}s] ${human(s, instances * capacity)} | ${Math.round(rate)} steps/s\n`)
      }
      const ticker = statsEvery > 0 ? setInterval(line, statsEvery * 1000) : undefined

      await new Promise<void>((resolve) => {
        const done = (): void => {
          process.off('SIGINT', done)
          process.off('SIGTERM', done)
          if (timer) clearTimeout(timer)
          resolve()
        }
        process.once('SIGINT', done)
        process.once('SIGTERM', done)
        const timer = duration !== undefined ? setTimeout(done, duration * 1000) : undefined
      })
      if (ticker) clearInterval(ticker)
      if (!opts.json) process.stdout.write(`stopping: no new calls; ${f.active()} live call${f.active() === 1 ? '' : 's'} get ${grace} s to end\n`)
      // A second Ctrl-C while stopping cuts the grace short.
      const force = (): void => { stopAll(0).catch(() => {}) }
      process.once('SIGINT', force)
      await stopAll(grace * 1000)
      process.off('SIGINT', force)
      if (ownWorkDir) await rm(workDir, { recursive: true, force: true })
      const s = f.stats()
      const summary = { instances, capacity, speed, seed: opts.seed, elapsedSec: Math.round((Date.now() - t0) / 1000), simSec: Math.round(f.clock.nowSec()), ...s }
      print(opts.json, summary, () => `summary after ${summary.elapsedSec} s (${summary.simSec} simulated s):\n  ${human(s, instances * capacity).replace(/ \| /g, '\n  ')}`)
    })
}

function kv (m: Record<string, number>): string {
  const e = Object.entries(m)
  return e.length === 0 ? '-' : e.sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`).join(', ')
}

function human (s: import('@federate/sim').SimStats, channels: number): string {
  return [
    `active ${s.active}/${channels} (peak ${s.peak})`,
    `calls in ${s.started.inbound} out ${s.started.outbound}${s.inboundRejected ? ` (inbound refused ${s.inboundRejected})` : ''}`,
    `originate ${kv(s.originate)}`,
    `ended ${kv(s.ended)}`,
    `steps ${s.steps}, AGI errors ${s.agiErrors}, sorry ${s.sorry}, missing prompts ${s.missingPrompts}, recordings ${s.recordings}`,
  ].join(' | ')
}
