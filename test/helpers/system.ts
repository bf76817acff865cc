import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, openSync, closeSync, readFileSync, readdirSync, type WriteStream } from 'node:fs'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { createApiKey, createPool, issueInstanceToken, migrate, type DbPool } from '@federate/db'
import { addStats, emptyStats, type SimStats } from '@federate/sim'
import { createTestDatabase, freePort, suffix, waitFor } from '@federate/testkit'

// The whole system as real processes, the way an operator runs it: a fresh migrated database,
// N `federate serve` app servers (dialer on, storage off unless asked) and one `federate sim`
// process holding the simulated fleet (each instance with its own agent and its own token).
// Benchmarks, the fault suite and the demo drive it; every child's stderr goes to a file under
// test-results/system/<run>/ so a failure can be read afterwards.

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const MAIN = join(ROOT, 'apps/cli/src/main.ts')

export interface SystemOptions {
  /** App servers (default 2). */
  servers?: number
  /** Simulated instances (default 2); 0 starts no fleet (start one later with startFleet). */
  instances?: number
  /** Channels per instance (default 100). */
  capacity?: number
  /** Simulated time runs this many times faster than real time (default 1). */
  speed?: number
  seed?: number | string
  /** A (partial) callee profile, written to a file for `federate sim --profile`. */
  profile?: unknown
  /** More environment for every app server (wins over the harness's own). */
  env?: Record<string, string>
  /** Serve prompts and recordings (needs S3; default false). */
  storage?: boolean
  /** Instance ids are `${idPrefix}1..N` (default `sys-<random>-`). */
  idPrefix?: string
  /** Name of the run folder under test-results/system/ (a timestamp and suffix are added). */
  name?: string
  /** Log level of the app servers (default warn) and of the fleet (default warn). */
  logLevel?: string
  fleetLogLevel?: string
  /** `federate sim --stats-every` in seconds (default 1). */
  statsEverySec?: number
  /** Seconds live calls get when the fleet stops (default 2). */
  graceSec?: number
  /** Bound on each start (a server's /healthz, the fleet's `started` line); default 60 s. */
  startTimeoutMs?: number
  /** Simulated-fleet processes the instances are split over (default 1): one Node event loop
   * carrying every instance's AMI, AGI and agent is itself a bottleneck on a small machine. */
  fleetProcesses?: number
  /** Extra node flags for the children, e.g. `{ fleet: ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] }`. */
  nodeArgs?: { server?: string[], fleet?: string[] }
  /** An empty database to use instead of a fresh one on the test server (it is migrated here and
   * `drop()` is called at close): the fault suite runs some systems on a private PostgreSQL. */
  database?: { url: string, drop: () => Promise<void> }
}

export interface ServerHandle {
  readonly index: number
  readonly port: number
  /** http://127.0.0.1:<port> */
  readonly url: string
  /** The XML-RPC endpoint the agents use. */
  readonly rpcUrl: string
  /** The current child (a new one after restart). */
  readonly child: ChildProcess
  readonly pid: number
  readonly stderrFile: string
  readonly alive: boolean
  /** Sends `signal` and resolves with the exit signal or code (SIGKILL after 10 s). */
  kill: (signal?: NodeJS.Signals) => Promise<string>
  /** Starts the server again on the same port (killing it first if alive); ready when /healthz answers. */
  restart: () => Promise<void>
}

/** One `{"type":"stats"}` line of `federate sim --json`. */
export type FleetStats = SimStats & { elapsedSec: number, simSec: number, stepsPerSec: number, at: number }

export interface FleetHandle {
  /** The first fleet process (see `children` when there are several). */
  readonly child: ChildProcess
  readonly children: ChildProcess[]
  readonly pid: number
  readonly pids: number[]
  readonly instanceIds: string[]
  readonly stderrFile: string
  readonly stderrFiles: string[]
  /** The latest stats over every fleet process (undefined before the first). */
  stats: () => FleetStats | undefined
  /** Every stats line so far (the last 10,000; summed over the processes). */
  history: () => FleetStats[]
  /** Resolves with a stats line newer than now. */
  nextStats: (timeoutMs?: number) => Promise<FleetStats>
  /** Stops new calls, lets live calls end for the sim's --grace, and resolves with the summed JSON summaries (undefined if one died). */
  stop: (graceSec?: number) => Promise<(SimStats & { elapsedSec: number }) | undefined>
  /** The sims' warn/error log lines so far, by pino level. */
  logLevels: () => Record<string, number>
}

export interface System {
  readonly runDir: string
  readonly databaseUrl: string
  readonly pool: DbPool
  readonly adminKey: string
  readonly dialerPrefix: string
  readonly servers: ServerHandle[]
  /** The simulated fleet (undefined when started with instances: 0 and no startFleet yet). */
  readonly fleet: FleetHandle | undefined
  /** Tokens issued per instance id. */
  readonly tokens: Record<string, string>
  /** Starts (another) fleet: instances get tokens first. Only one fleet at a time. */
  startFleet: (o?: Pick<SystemOptions, 'instances' | 'capacity' | 'speed' | 'seed' | 'profile' | 'idPrefix'>) => Promise<FleetHandle>
  /** A REST call as the admin (JSON body unless `contentType` says otherwise); throws on a non-2xx answer. */
  api: <T = unknown>(method: string, path: string, body?: unknown, contentType?: string) => Promise<T>
  /** Publishes a flow (a file path or a definition) and binds numbers to it. */
  publishFlow: (fileOrDefinition: string | object, numbers?: string[], id?: string) => Promise<{ flowId: string, version: number }>
  /** Creates a draft campaign (the REST body); returns the campaign. */
  createCampaign: (fields: Record<string, unknown>) => Promise<{ id: string } & Record<string, unknown>>
  campaignAction: (id: string, action: 'start' | 'pause' | 'resume' | 'stop') => Promise<unknown>
  importContacts: (campaignId: string, csv: string, query?: Record<string, string>) => Promise<{ imported: number, duplicates: number, dnc: number, badCount: number }>
  campaignStats: (campaignId: string) => Promise<Record<string, any>>
  /** CPU seconds (user + system) each child has used so far, by name (`server-1`, `fleet`). */
  cpu: () => Record<string, number>
  /** Warn/error lines in the app servers' stderr files, by pino level name. */
  serverLogLevels: () => Record<string, number>
  /** Kills every child, closes the pool and drops the database. Idempotent. */
  close: () => Promise<void>
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }

/** CPU seconds (utime + stime) a process has used, from /proc/<pid>/stat; NaN when unreadable. */
export function cpuSeconds (pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may hold spaces: fields are counted after its closing ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return Number.NaN
  }
}

/** CPU seconds used so far by every process whose command name is `comm` (e.g. postgres, redis-server). */
export function cpuSecondsOf (comm: string): number {
  let total = 0
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== comm) continue
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      total += (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
    } catch {
      // the process ended meanwhile
    }
  }
  return total
}

/** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineCpu (): { busy: number, total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
  const total = line.reduce((a, b) => a + b, 0)
  const idle = (line[3] ?? 0) + (line[4] ?? 0)
  return { busy: (total - idle) / CLOCK_TICKS, total: total / CLOCK_TICKS }
}

// USER_HZ is 100 on every Linux build that matters (x86_64, arm64).
const CLOCK_TICKS = 100

/** Counts pino lines by level name in a log file (lines that are not JSON are `other`). */
export function logLevelsOf (file: string): Record<string, number> {
  const out: Record<string, number> = {}
  if (!existsSync(file)) return out
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue
    let name = 'other'
    if (line.startsWith('{')) {
      try {
        const j = JSON.parse(line) as { level?: number, type?: string }
        if (j.type !== undefined && j.level === undefined) continue // the sim's own stats lines
        name = LEVELS[j.level ?? 0] ?? 'other'
      } catch {}
    }
    out[name] = (out[name] ?? 0) + 1
  }
  return out
}

function exitedPromise (child: ChildProcess): Promise<string> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode ?? String(child.exitCode))
  return new Promise((resolve) => child.once('exit', (code, signal) => { resolve(signal ?? String(code)) }))
}

async function stopProcess (child: ChildProcess, signal: NodeJS.Signals, timeoutMs: number): Promise<string> {
  const exited = exitedPromise(child)
  if (child.exitCode === null && child.signalCode === null) child.kill(signal)
  const giveUp = new AbortController()
  const out = await Promise.race([exited, sleep(timeoutMs, null, { signal: giveUp.signal }).catch(() => null)])
  giveUp.abort()
  if (out !== null) return out
  child.kill('SIGKILL')
  return await exited
}

/** Starts the whole system; see SystemOptions. Call close() when done (tests: `t.after`). */
export async function startSystem (o: SystemOptions = {}): Promise<System> {
  const serverCount = o.servers ?? 2
  const startTimeoutMs = o.startTimeoutMs ?? 60_000
  const id = suffix()
  const runDir = resolve(ROOT, 'test-results', 'system', `${o.name ?? 'run'}-${new Date().toISOString().replace(/[:.]/g, '-')}-${id}`)
  await mkdir(runDir, { recursive: true })
  const db = o.database ?? await createTestDatabase('fedsys')
  const children = new Set<ChildProcess>()
  // A harness that dies (Ctrl-C, a thrown error) must not leave servers running.
  const onExit = (): void => { for (const c of children) c.kill('SIGKILL') }
  process.once('exit', onExit)
  let pool: DbPool | undefined
  const servers: ServerHandle[] = []
  let fleet: FleetHandle | undefined
  const tokens: Record<string, string> = {}
  const dialerPrefix = `fedsys:${id}`
  let closed: Promise<void> | undefined

  const close = (): Promise<void> => {
    closed ??= (async () => {
      await fleet?.stop(0).catch(() => {})
      await Promise.all(servers.map(async (s) => await s.kill('SIGTERM').catch(() => '')))
      await pool?.close().catch(() => {})
      await db.drop().catch(() => {})
      process.off('exit', onExit)
    })()
    return closed
  }

  try {
    await migrate(db.url)
    pool = createPool(db.url, { max: 4 })
    const admin = await createApiKey(pool, 'admin', 'system harness')
    const ports = await Promise.all(Array.from({ length: serverCount }, async () => await freePort()))
    const serverEnv: Record<string, string> = {
      DATABASE_URL: db.url,
      CACHE_PREFIX: `sys${id}`,
      DIALER_PREFIX: dialerPrefix,
      FEDERATE_DIALER: 'true',
      FEDERATE_STORAGE: String(o.storage ?? false),
      LOG_LEVEL: o.logLevel ?? 'warn',
      NODE_ENV: 'production',
      ...o.env,
    }
    for (let i = 0; i < serverCount; i++) servers.push(createServer(i, ports[i]!, serverEnv, runDir, children, startTimeoutMs, o.nodeArgs?.server ?? []))
    await Promise.all(servers.map(async (s) => await s.restart()))

    const api = async <T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> => {
      // Any live server will do: they are interchangeable.
      const s = servers.find((x) => x.alive) ?? servers[0]!
      const res = await fetch(`${s.url}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${admin.key}`, ...(body === undefined ? {} : { 'content-type': contentType }) },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(120_000),
      })
      const text = await res.text()
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 500)}`)
      return (text ? JSON.parse(text) : undefined) as T
    }

    const startFleet: System['startFleet'] = async (f = {}) => {
      if (fleet && fleet.children.some((c) => c.exitCode === null && c.signalCode === null)) throw new Error('a fleet is running: stop it first')
      const instances = f.instances ?? o.instances ?? 2
      const procs = Math.max(1, Math.min(instances, o.fleetProcesses ?? 1))
      const base = f.idPrefix ?? o.idPrefix ?? `sys-${suffix()}-`
      const handles: FleetProcess[] = []
      const profile = f.profile ?? o.profile
      const safe = (x: string): string => x.replace(/[^A-Za-z0-9_-]/g, '')
      let profileFile: string | undefined
      if (profile !== undefined) {
        profileFile = join(runDir, `profile-${safe(base)}.json`)
        await writeFile(profileFile, JSON.stringify(profile, null, 2))
      }
      try {
        for (let k = 0; k < procs; k++) {
          // Instances spread evenly; with several processes each gets its own id prefix.
          const count = Math.floor(instances / procs) + (k < instances % procs ? 1 : 0)
          const prefix = procs === 1 ? base : `${base}p${k + 1}-`
          const ids = Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`)
          for (const iid of ids) tokens[iid] ??= await issueInstanceToken(pool!, iid)
          const tokensFile = join(runDir, `tokens-${safe(prefix)}.json`)
          await writeFile(tokensFile, JSON.stringify(Object.fromEntries(ids.map((x) => [x, tokens[x]]))), { mode: 0o600 })
          await chmod(tokensFile, 0o600)
          const args = ['sim', '--instances', String(count), '--capacity', String(f.capacity ?? o.capacity ?? 100),
            '--speed', String(f.speed ?? o.speed ?? 1), '--seed', `${f.seed ?? o.seed ?? 1}${procs === 1 ? '' : `-${k + 1}`}`,
            '--servers', servers.map((s) => s.rpcUrl).join(','), '--tokens-file', tokensFile, '--id-prefix', prefix,
            '--work-dir', join(runDir, `fleet-${safe(prefix)}`), '--no-check-prompts',
            '--stats-every', String(o.statsEverySec ?? 1), '--grace', String(o.graceSec ?? 2),
            '--log-level', o.fleetLogLevel ?? 'warn', '--json', ...(profileFile ? ['--profile', profileFile] : [])]
          handles.push(await spawnFleetProcess([...(o.nodeArgs?.fleet ?? []), '--import', 'tsx', MAIN, ...args], ids, join(runDir, `fleet-${safe(prefix)}.log`), children, startTimeoutMs))
        }
      } catch (err) {
        await Promise.all(handles.map(async (h) => await h.stop(0)))
        throw err
      }
      fleet = combineFleet(handles)
      return fleet
    }
    if ((o.instances ?? 2) > 0) await startFleet()

    return {
      runDir,
      databaseUrl: db.url,
      pool,
      adminKey: admin.key,
      dialerPrefix,
      servers,
      get fleet () { return fleet },
      tokens,
      startFleet,
      api,
      async publishFlow (fileOrDefinition, numbers = [], flowId) {
        const definition = typeof fileOrDefinition === 'string'
          ? JSON.parse(await readFile(resolve(ROOT, fileOrDefinition), 'utf8')) as Record<string, unknown>
          : fileOrDefinition
        const fid = flowId ?? (typeof fileOrDefinition === 'string' ? fileOrDefinition.replace(/^.*\//, '').replace(/\.json$/, '') : `flow-${suffix()}`)
        return await api<{ flowId: string, version: number }>('POST', '/flows', { id: fid, definition, numbers })
      },
      async createCampaign (fields) {
        return await api<{ id: string }>('POST', '/campaigns', fields)
      },
      async campaignAction (cid, action) {
        return await api('POST', `/campaigns/${encodeURIComponent(cid)}/${action}`)
      },
      async importContacts (cid, csv, query = {}) {
        const qs = new URLSearchParams(query).toString()
        return await api('POST', `/campaigns/${encodeURIComponent(cid)}/contacts${qs ? `?${qs}` : ''}`, csv, 'text/csv')
      },
      async campaignStats (cid) {
        return await api('GET', `/campaigns/${encodeURIComponent(cid)}/stats`)
      },
      cpu () {
        const out: Record<string, number> = {}
        for (const s of servers) out[`server-${s.index + 1}`] = cpuSeconds(s.pid)
        if (fleet) {
          const each = fleet.pids.map(cpuSeconds)
          out.fleet = each.reduce((a, b) => a + b, 0)
          if (each.length > 1) each.forEach((v, k) => { out[`fleet-${k + 1}`] = v })
        }
        return out
      },
      serverLogLevels () {
        const out: Record<string, number> = {}
        for (const s of servers) {
          for (const [k, v] of Object.entries(logLevelsOf(s.stderrFile))) out[k] = (out[k] ?? 0) + v
        }
        return out
      },
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}

function createServer (index: number, port: number, env: Record<string, string>, runDir: string, children: Set<ChildProcess>, startTimeoutMs: number, nodeArgs: string[]): ServerHandle {
  const url = `http://127.0.0.1:${port}`
  const stderrFile = join(runDir, `server-${index + 1}.log`)
  let child: ChildProcess | undefined
  const alive = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null
  const kill = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<string> => {
    if (!child) return 'never started'
    const c = child
    const out = await stopProcess(c, signal, 10_000)
    children.delete(c)
    return out
  }
  return {
    index,
    port,
    url,
    rpcUrl: `${url}/RPC2`,
    get child () { return child! },
    get pid () { return child?.pid ?? -1 },
    stderrFile,
    get alive () { return alive() },
    kill,
    async restart () {
      if (alive()) await kill('SIGTERM')
      // Appended: a restarted server's log follows its previous life.
      const fd = openSync(stderrFile, 'a')
      const c = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', MAIN, 'serve', '--port', String(port)], {
        cwd: ROOT,
        env: { ...process.env, ...env },
        stdio: ['ignore', fd, fd],
      })
      closeSync(fd)
      child = c
      children.add(c)
      c.once('exit', () => { children.delete(c) })
      await waitFor(async () => {
        if (c.exitCode !== null || c.signalCode !== null) throw new Error(`federate serve (server ${index + 1}) exited with ${c.signalCode ?? c.exitCode}; see ${stderrFile}`)
        return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) })).status === 200
      }, { timeoutMs: startTimeoutMs, intervalMs: 100, what: `server ${index + 1} on port ${port} (log: ${stderrFile})` }).catch(async (err: unknown) => {
        await stopProcess(c, 'SIGKILL', 5000)
        throw err
      })
    },
  }
}

interface FleetProcess {
  child: ChildProcess
  instanceIds: string[]
  stderrFile: string
  latest: () => FleetStats | undefined
  /** Calls `fn` with each stats line. */
  onStats: (fn: (s: FleetStats) => void) => void
  stop: (graceSec?: number) => Promise<(SimStats & { elapsedSec: number }) | undefined>
  logLevels: () => Record<string, number>
}

async function spawnFleetProcess (nodeArgs: string[], instanceIds: string[], stderrFile: string, children: Set<ChildProcess>, startTimeoutMs: number): Promise<FleetProcess> {
  const log: WriteStream = createWriteStream(stderrFile, { flags: 'a' })
  const child = spawn(process.execPath, nodeArgs, { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  child.once('exit', () => { children.delete(child) })
  const exited = exitedPromise(child)
  let stdout = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { if (stdout.length < 1_000_000) stdout += d })
  let latest: FleetStats | undefined
  const listeners: Array<(s: FleetStats) => void> = []
  const levels: Record<string, number> = {}
  let started: (() => void) | undefined
  const startedP = new Promise<void>((resolve) => { started = resolve })
  createInterface({ input: child.stderr! }).on('line', (line) => {
    log.write(line + '\n')
    if (!line.startsWith('{')) return
    let j: Record<string, any>
    try {
      j = JSON.parse(line)
    } catch {
      return
    }
    if (j.type === 'started') started?.()
    else if (j.type === 'stats') {
      latest = { ...j, at: Date.now() } as unknown as FleetStats
      for (const f of listeners) f(latest)
    } else if (typeof j.level === 'number') {
      const name = LEVELS[j.level] ?? 'other'
      levels[name] = (levels[name] ?? 0) + 1
    }
  })
  const giveUp = new AbortController()
  const ok = await Promise.race([startedP.then(() => true), exited.then(() => false), sleep(startTimeoutMs, false, { signal: giveUp.signal }).catch(() => false)])
  giveUp.abort()
  if (!ok) {
    await stopProcess(child, 'SIGKILL', 5000)
    log.end()
    throw new Error(`federate sim did not start (exit ${child.signalCode ?? child.exitCode}); see ${stderrFile}`)
  }
  let stopping: Promise<(SimStats & { elapsedSec: number }) | undefined> | undefined
  return {
    child,
    instanceIds,
    stderrFile,
    latest: () => latest,
    onStats: (fn) => { listeners.push(fn) },
    stop (graceSec = 2) {
      stopping ??= (async () => {
        // SIGTERM starts the sim's own grace (its --grace); a second signal would cut it short.
        await stopProcess(child, 'SIGTERM', (graceSec + 20) * 1000)
        await new Promise((resolve) => log.end(resolve))
        try {
          return JSON.parse(stdout) as SimStats & { elapsedSec: number }
        } catch {
          return undefined
        }
      })()
      return stopping
    },
    logLevels: () => ({ ...levels }),
  }
}

/** Sums the latest stats of every process: counters add up, elapsed times take the largest. */
function sumStats (parts: FleetStats[]): FleetStats {
  const total = emptyStats() as FleetStats
  for (const p of parts) addStats(total, p)
  total.elapsedSec = Math.max(...parts.map((p) => p.elapsedSec))
  total.simSec = Math.max(...parts.map((p) => p.simSec))
  total.stepsPerSec = parts.reduce((a, p) => a + p.stepsPerSec, 0)
  total.at = Math.max(...parts.map((p) => p.at))
  return total
}

/** One handle over the fleet's processes; a stats line is recorded when the first process reports. */
function combineFleet (procs: FleetProcess[]): FleetHandle {
  const history: FleetStats[] = []
  let waiters: Array<(s: FleetStats) => void> = []
  const current = (): FleetStats | undefined => {
    const parts = procs.map((p) => p.latest())
    return parts.every((x) => x !== undefined) ? sumStats(parts as FleetStats[]) : undefined
  }
  procs[0]!.onStats(() => {
    const s = current()
    if (!s) return
    history.push(s)
    if (history.length > 10_000) history.shift()
    const w = waiters
    waiters = []
    for (const f of w) f(s)
  })
  let stopping: Promise<(SimStats & { elapsedSec: number }) | undefined> | undefined
  return {
    get child () { return procs[0]!.child },
    children: procs.map((p) => p.child),
    get pid () { return procs[0]!.child.pid ?? -1 },
    get pids () { return procs.map((p) => p.child.pid ?? -1) },
    instanceIds: procs.flatMap((p) => p.instanceIds),
    stderrFile: procs[0]!.stderrFile,
    stderrFiles: procs.map((p) => p.stderrFile),
    stats: () => history.at(-1) ?? current(),
    history: () => history.slice(),
    nextStats: async (timeoutMs = 10_000) => {
      let t: NodeJS.Timeout | undefined
      try {
        return await Promise.race([
          new Promise<FleetStats>((resolve) => { waiters.push(resolve) }),
          new Promise<never>((_resolve, reject) => { t = setTimeout(() => { reject(new Error(`no fleet stats within ${timeoutMs} ms`)) }, timeoutMs) }),
        ])
      } finally {
        clearTimeout(t)
      }
    },
    stop (graceSec = 2) {
      stopping ??= (async () => {
        const all = await Promise.all(procs.map(async (p) => await p.stop(graceSec)))
        if (all.some((x) => x === undefined)) return undefined
        const total = emptyStats() as SimStats & { elapsedSec: number }
        for (const x of all) addStats(total, x!)
        total.elapsedSec = Math.max(...all.map((x) => x!.elapsedSec))
        return total
      })()
      return stopping
    },
    logLevels () {
      const out: Record<string, number> = {}
      for (const p of procs) for (const [k, v] of Object.entries(p.logLevels())) out[k] = (out[k] ?? 0) + v
      return out
    },
  }
}
