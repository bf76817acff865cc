import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino, type Logger } from 'pino'
import { ScalerError } from './errors.ts'
import type { LaunchRequest, LaunchResult, Provider, ProviderInstance } from './provider.ts'

// The local provider: each instance is a real `federate sim --instances 1` process (a simulated
// Asterisk with its own agent) started with the controller's instance id and token. A pid file per
// instance in the state directory is what `list` reads, so another controller on the same machine
// (a new leader) sees and can stop what this one started. Terminate: SIGTERM, then SIGKILL.

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))

export interface LocalProviderOptions {
  /** App servers' XML-RPC URLs for the agents. */
  servers: readonly string[]
  /** Fleet name: pid files live in `<stateDir>`, default `<tmp>/federate-local-<cluster>`. */
  cluster?: string
  stateDir?: string
  /**
   * Node's arguments that run the CLI, `sim` and its flags follow (default: this checkout's
   * apps/cli/src/main.ts through tsx; the controller passes a bundle run by plain node).
   */
  command?: readonly string[]
  /** Concurrent calls per simulated instance (default 100). */
  capacity?: number
  /** Simulated time speed (default 1). */
  speed?: number
  /** Seed; each instance uses `<seed>-<id>` so instances differ but runs repeat (default 1). */
  seed?: number | string
  /** More `federate sim` flags (e.g. --inbound-cps 5 --number 100). */
  extraArgs?: readonly string[]
  /** Seconds live calls get at SIGTERM (the sim's --grace, default 5). */
  graceSec?: number
  /** SIGKILL this long after SIGTERM (default 15 s). */
  killAfterMs?: number
  /** Stop the instances this process started when it closes (default true: no orphans after a demo). */
  stopOnClose?: boolean
  /** More environment for the instances. */
  env?: Readonly<Record<string, string>>
  logger?: Logger
}

interface PidFile { id: string, pid: number, startedAt: string, stoppingAt?: string, instanceType: string }

/** `federate sim` names its instance `<id-prefix>1`: the prefix that gives exactly `id`. */
export function simIdPrefix (id: string): string {
  if (!/^[A-Za-z0-9_.:-]{2,128}$/.test(id) || !id.endsWith('1')) {
    throw new ScalerError('FED_SCALER_INVALID_INPUT', `local instance ids must end in 1 (federate sim names its instance <prefix>1), got ${JSON.stringify(id)}`)
  }
  return id.slice(0, -1)
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

// A pid may be reused after a crash: on Linux, check that the process is still our sim.
function isOurs (pid: number, id: string): boolean {
  if (!alive(pid)) return false
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(simIdPrefix(id))
  } catch {
    return process.platform !== 'linux'
  }
}

export function createLocalProvider (opts: LocalProviderOptions): Provider & { readonly stateDir: string, logFile: (id: string) => string } {
  if (!opts.servers?.length) throw new ScalerError('FED_SCALER_INVALID_CONFIG', 'the local provider needs the app servers\' URLs for its agents')
  const logger = (opts.logger ?? pino({ level: 'silent' })).child({ module: 'local-provider' })
  const cluster = opts.cluster ?? 'local'
  const stateDir = opts.stateDir ?? join(tmpdir(), `federate-local-${cluster}`)
  const command = opts.command ?? ['--import', 'tsx', join(REPO_ROOT, 'apps/cli/src/main.ts')]
  const killAfterMs = opts.killAfterMs ?? 15_000
  const capacity = opts.capacity ?? 100
  const instanceType = `sim.${capacity}`
  const mine = new Set<string>()
  let closed = false
  mkdirSync(stateDir, { recursive: true })

  const pidPath = (id: string) => join(stateDir, `${id}.json`)
  const logFile = (id: string) => join(stateDir, `${id}.log`)
  const tokenPath = (id: string) => join(stateDir, `${id}.token.json`)
  const readPid = (id: string): PidFile | null => {
    try {
      return JSON.parse(readFileSync(pidPath(id), 'utf8')) as PidFile
    } catch {
      return null
    }
  }
  const view = (p: PidFile): ProviderInstance => ({
    id: p.id,
    ref: String(p.pid),
    state: !isOurs(p.pid, p.id) ? 'terminated' : p.stoppingAt ? 'stopping' : 'running',
    instanceType: p.instanceType,
    launchedAt: new Date(p.startedAt),
    addr: '127.0.0.1',
  })

  function start (r: LaunchRequest): ProviderInstance {
    const known = readPid(r.id)
    if (known && isOurs(known.pid, known.id)) return view(known)
    const args = [
      ...command, 'sim',
      '--instances', '1',
      '--id-prefix', simIdPrefix(r.id),
      '--capacity', String(capacity),
      '--speed', String(opts.speed ?? 1),
      '--seed', `${opts.seed ?? 1}-${r.id}`,
      '--servers', opts.servers.join(','),
      // The token goes in a file only the owner reads, never on the command line (visible in ps).
      '--tokens-file', tokenPath(r.id),
      '--grace', String(opts.graceSec ?? 5),
      '--stats-every', '0',
      '--log-level', 'warn',
      ...(opts.extraArgs ?? []),
    ]
    writeFileSync(tokenPath(r.id), JSON.stringify({ [r.id]: r.token }), { mode: 0o600 })
    const out = openSync(logFile(r.id), 'a')
    try {
      // Detached, output to a file: the instance outlives a controller that dies (as an EC2
      // instance would) and a new leader finds it by its pid file.
      const child = spawn(process.execPath, args, {
        cwd: REPO_ROOT,
        detached: true,
        stdio: ['ignore', out, out],
        env: { ...process.env, ...opts.env },
      })
      if (child.pid === undefined) throw new ScalerError('FED_SCALER_LAUNCH_FAILED', `${r.id}: could not start ${process.execPath}`)
      child.on('error', (err) => { logger.warn({ id: r.id, err: err.message }, 'simulated instance failed') })
      child.on('exit', (code, signal) => { logger.info({ id: r.id, code, signal }, 'simulated instance exited') })
      child.unref()
      const p: PidFile = { id: r.id, pid: child.pid, startedAt: new Date().toISOString(), instanceType }
      writeFileSync(pidPath(r.id), JSON.stringify(p))
      mine.add(r.id)
      logger.info({ id: r.id, pid: child.pid }, 'simulated instance started')
      return { ...view(p), state: 'pending' }
    } finally {
      closeSync(out)
    }
  }

  async function stop (id: string): Promise<void> {
    const p = readPid(id)
    if (!p) return
    if (isOurs(p.pid, id)) {
      if (!p.stoppingAt) writeFileSync(pidPath(id), JSON.stringify({ ...p, stoppingAt: new Date().toISOString() }))
      try { process.kill(p.pid, 'SIGTERM') } catch {}
      const deadline = Date.now() + killAfterMs
      while (alive(p.pid) && Date.now() < deadline) await sleep(50)
      if (alive(p.pid)) {
        logger.warn({ id, pid: p.pid }, 'simulated instance ignored SIGTERM: SIGKILL')
        try { process.kill(p.pid, 'SIGKILL') } catch {}
        while (alive(p.pid)) await sleep(20)
      }
    }
    rmSync(pidPath(id), { force: true })
    rmSync(tokenPath(id), { force: true })
    mine.delete(id)
  }

  return {
    name: 'local',
    stateDir,
    logFile,
    async launch (requests) {
      if (closed) throw new ScalerError('FED_SCALER_CLOSED')
      const out: LaunchResult = { launched: [], failed: [] }
      for (const r of requests) {
        try {
          out.launched.push(start(r))
        } catch (err) {
          out.failed.push({ id: r.id, error: err as Error })
        }
      }
      return out
    },
    async list () {
      if (!existsSync(stateDir)) return []
      return readdirSync(stateDir)
        .filter((f) => f.endsWith('.json') && !f.endsWith('.token.json'))
        .map((f) => readPid(f.slice(0, -5)))
        .filter((p): p is PidFile => p !== null)
        .map(view)
    },
    async terminate (ids) {
      await Promise.all(ids.map(stop))
    },
    async close () {
      if (closed) return
      closed = true
      if (opts.stopOnClose ?? true) await Promise.all([...mine].map(stop))
    },
  }
}
