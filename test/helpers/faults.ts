import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import type { Queryable } from '@federate/db'
import { freePort, suffix, waitFor } from '@federate/testkit'
import type { E2eSim, TierTap } from './e2e.ts'
import { ROOT } from './system.ts'

// What the fault suite (test/faults/) needs beyond the system harness: PRIVATE PostgreSQL,
// Redis and Memcached servers on free ports (a fault restarts them; the machine's shared
// servers on 5432/6379 are never touched), a TCP proxy that delays or drops one server's
// traffic, Prometheus text parsing, the invariants every fault checks, and the results table.

// ---------------------------------------------------------------------------------------------
// Private servers

export interface PrivateService {
  readonly port: number
  /** Whether the server process is running now. */
  readonly running: boolean
  start: () => Promise<void>
  /** Stops the server (SIGTERM, or SIGKILL when `hard`). */
  stop: (hard?: boolean) => Promise<void>
  /** Stops it for good and removes its files. Idempotent. */
  close: () => Promise<void>
}

const isRoot = (): boolean => process.getuid?.() === 0

function which (cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' })
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null
}

/** PostgreSQL's bin directory (the newest installed), or null. */
export function postgresBin (): string | null {
  const base = '/usr/lib/postgresql'
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))
    if (versions[0]) return join(base, versions[0], 'bin')
  }
  const initdb = which('initdb')
  return initdb ? initdb.replace(/\/initdb$/, '') : null
}

/** Why a private server of this kind cannot run here (a test's `skip`), or false. */
export function missing (kind: 'postgres' | 'redis' | 'memcached'): string | false {
  if (kind === 'postgres') {
    if (postgresBin() === null) return 'PostgreSQL binaries (initdb, pg_ctl) are not installed'
    if (isRoot() && (which('runuser') === null || !readFileSync('/etc/passwd', 'utf8').includes('\npostgres:'))) return 'running as root needs runuser and a postgres user'
    return false
  }
  const bin = kind === 'redis' ? 'redis-server' : 'memcached'
  return which(bin) === null ? `${bin} is not installed` : false
}

function exited (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => { resolve() }))
}

async function answers (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' })
    s.setTimeout(500)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
    s.once('timeout', () => { s.destroy(); resolve(false) })
  })
}

/** A server run as a child process (Redis, Memcached) that can be stopped and started on the same port. */
async function childService (what: string, port: number, argv: () => [string, string[]], dir: string): Promise<PrivateService> {
  let child: ChildProcess | undefined
  let closed: Promise<void> | undefined
  const onExit = (): void => { child?.kill('SIGKILL') }
  process.once('exit', onExit)
  const running = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null
  const svc: PrivateService = {
    port,
    get running () { return running() },
    async start () {
      if (running()) return
      const [cmd, args] = argv()
      const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
      let err = ''
      c.stderr!.setEncoding('utf8').on('data', (d: string) => { if (err.length < 4000) err += d })
      child = c
      await waitFor(async () => {
        if (c.exitCode !== null || c.signalCode !== null) throw new Error(`${what} exited: ${err}`)
        return await answers(port)
      }, { timeoutMs: 20_000, intervalMs: 50, what: `${what} on port ${port}` })
    },
    async stop (hard = false) {
      if (!running()) return
      const c = child!
      c.kill(hard ? 'SIGKILL' : 'SIGTERM')
      await exited(c)
    },
    close () {
      closed ??= (async () => {
        await svc.stop(true)
        process.off('exit', onExit)
        await rm(dir, { recursive: true, force: true })
      })()
      return closed
    },
  }
  await svc.start()
  return svc
}

/** A private Redis on a free port without persistence: a restart comes back empty, like the dev Redis. */
export async function startPrivateRedis (): Promise<PrivateService & { url: string }> {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'fedfault-redis-'))
  const svc = await childService('redis-server', port, () => ['redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning']], dir)
  return Object.assign(svc, { url: `redis://127.0.0.1:${port}` })
}

/** A private Memcached on a free port (64 MB). */
export async function startPrivateMemcached (): Promise<PrivateService & { address: string }> {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'fedfault-memcached-'))
  // memcached refuses to run as root without a user to switch to.
  const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '64', ...(isRoot() ? ['-u', 'nobody'] : [])]
  const svc = await childService('memcached', port, () => ['memcached', args], dir)
  return Object.assign(svc, { address: `127.0.0.1:${port}` })
}

export interface PrivatePostgres extends PrivateService {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string
  /** Creates an empty database (for startSystem's `database`); drop() removes it. */
  createDatabase: (prefix?: string) => Promise<{ url: string, drop: () => Promise<void> }>
}

/**
 * A private PostgreSQL cluster: initdb into a temporary folder (as the postgres OS user when we
 * are root, as apps/cli/src/services/starters.ts does), trust auth, TCP only on a free port,
 * fsync off (a throwaway cluster). stop() is a fast shutdown (SIGINT: clients are cut), hard a
 * crash (immediate: recovery at the next start).
 */
export async function startPrivatePostgres (): Promise<PrivatePostgres> {
  const bin = postgresBin()
  if (bin === null) throw new Error('PostgreSQL binaries not found')
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'fedfault-pg-'))
  const data = join(dir, 'data')
  const log = join(dir, 'server.log')
  mkdirSync(data, { mode: 0o700 })
  writeFileSync(log, '')
  if (isRoot()) {
    const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'))!
    const [, , uid, gid] = line.split(':')
    for (const p of [dir, data, log]) chownSync(p, Number(uid), Number(gid))
  }
  const run = (cmd: string, args: string[], timeoutMs: number): void => {
    const [c, a] = isRoot() ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]] : [join(bin, cmd), args]
    const r = spawnSync(c, a, { encoding: 'utf8', timeout: timeoutMs })
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}\n${existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : ''}`)
  }
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-locale', '--no-sync'], 120_000)
  let up = false
  let closed: Promise<void> | undefined
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const dbUrl = (name: string): string => `postgres://postgres@127.0.0.1:${port}/${name}`
  const stopNow = (mode: 'fast' | 'immediate'): void => {
    if (!up) return
    run('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop'], 70_000)
    up = false
  }
  const onExit = (): void => { try { stopNow('immediate') } catch {} }
  process.once('exit', onExit)
  const svc: PrivatePostgres = {
    port,
    url,
    get running () { return up },
    async start () {
      if (up) return
      const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`
      run('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', '-o', options, 'start'], 70_000)
      up = true
      await waitFor(async () => {
        const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 })
        try {
          await c.connect()
          await c.query('SELECT 1')
          return true
        } finally {
          await c.end().catch(() => {})
        }
      }, { timeoutMs: 30_000, intervalMs: 100, what: `private PostgreSQL on port ${port}` })
    },
    async stop (hard = false) {
      stopNow(hard ? 'immediate' : 'fast')
    },
    async createDatabase (prefix = 'fedfault') {
      const name = `${prefix}_${suffix()}${suffix()}`
      const admin = new pg.Client({ connectionString: url })
      await admin.connect()
      try {
        await admin.query(`CREATE DATABASE "${name}"`)
      } finally {
        await admin.end()
      }
      // The whole cluster goes at close(); a drop before that is a courtesy.
      return { url: dbUrl(name), drop: async () => {} }
    },
    close () {
      closed ??= (async () => {
        try { stopNow('immediate') } catch {}
        process.off('exit', onExit)
        await rm(dir, { recursive: true, force: true })
      })()
      return closed
    },
  }
  await svc.start()
  return svc
}

// ---------------------------------------------------------------------------------------------
// A TCP proxy between the agents and one app server

export type ProxyMode =
  | { kind: 'pass' }
  /** Every chunk from the agent reaches the server `ms` later. */
  | { kind: 'delay', ms: number }
  /** New connections are reset at once and open ones are cut. */
  | { kind: 'drop' }

export interface TcpProxy {
  readonly port: number
  readonly url: string
  mode: ProxyMode
  set: (mode: ProxyMode) => void
  stats: () => { connections: number, dropped: number, cut: number }
  close: () => Promise<void>
}

/** Listens on a free port and forwards to `target` (host:port) as `mode` says. */
export async function startProxy (target: { host: string, port: number }, path = '/RPC2'): Promise<TcpProxy> {
  const open = new Set<Socket>()
  const stats = { connections: 0, dropped: 0, cut: 0 }
  let mode: ProxyMode = { kind: 'pass' }
  const server: Server = createServer((client) => {
    stats.connections++
    if (mode.kind === 'drop') {
      stats.dropped++
      client.resetAndDestroy()
      return
    }
    const upstream = connect(target)
    open.add(client)
    const end = (): void => {
      open.delete(client)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
    client.on('data', (chunk) => {
      const ms = mode.kind === 'delay' ? mode.ms : 0
      // Equal delays fire in order, so the byte stream stays in order.
      if (ms > 0) setTimeout(() => { if (!upstream.destroyed) upstream.write(chunk) }, ms).unref()
      else upstream.write(chunk)
    })
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  const set = (m: ProxyMode): void => {
    mode = m
    if (m.kind === 'drop') {
      for (const s of open) { stats.cut++; s.resetAndDestroy() }
      open.clear()
    }
  }
  return {
    port,
    url: `http://127.0.0.1:${port}${path}`,
    get mode () { return mode },
    set mode (m) { set(m) },
    set,
    stats: () => ({ ...stats }),
    async close () {
      for (const s of open) s.destroy()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Prometheus text

export interface Sample { name: string, labels: Record<string, string>, value: number }

/** Parses Prometheus text exposition (comments skipped). */
export function parseMetrics (text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line)
    if (!m) continue
    const labels: Record<string, string> = {}
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!
    out.push({ name: m[1]!, labels, value: Number(m[4]) })
  }
  return out
}

/** Sum of the samples named `name` whose labels include `where`. */
export function sumOf (samples: Sample[], name: string, where: Record<string, string> = {}): number {
  let total = 0
  for (const s of samples) {
    if (s.name !== name) continue
    if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) total += s.value
  }
  return total
}

/** The cumulative buckets (le -> count) of a histogram, summed over series matching `where`. */
export function bucketsOf (samples: Sample[], name: string, where: Record<string, string> = {}): Map<number, number> {
  const out = new Map<number, number>()
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue
    if (!Object.entries(where).every(([k, v]) => s.labels[k] === v)) continue
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le)
    out.set(le, (out.get(le) ?? 0) + s.value)
  }
  return out
}

/** Bucket counts of `now` minus those of `before` (a window between two scrapes). */
export function bucketDelta (now: Map<number, number>, before: Map<number, number> | undefined): Map<number, number> {
  const out = new Map<number, number>()
  for (const [le, n] of now) out.set(le, n - (before?.get(le) ?? 0))
  return out
}

/** histogram_quantile as Prometheus computes it (linear inside the bucket); NaN when empty. */
export function histogramQuantile (q: number, buckets: Map<number, number>): number {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0])
  const total = sorted.at(-1)?.[1] ?? 0
  if (total <= 0) return Number.NaN
  const rank = q * total
  let prevLe = 0
  let prevN = 0
  for (const [le, n] of sorted) {
    if (n >= rank) {
      if (le === Infinity) return prevLe
      return prevLe + (le - prevLe) * (n === prevN ? 0 : (rank - prevN) / (n - prevN))
    }
    prevLe = le
    prevN = n
  }
  return prevLe
}

/** Scrapes each server's /metrics; a dead server gives no samples. */
export async function scrape (urls: string[]): Promise<Sample[]> {
  const all = await Promise.all(urls.map(async (u) => {
    try {
      const res = await fetch(`${u}/metrics`, { signal: AbortSignal.timeout(3000) })
      return res.ok ? parseMetrics(await res.text()) : []
    } catch {
      return []
    }
  }))
  return all.flat()
}

// ---------------------------------------------------------------------------------------------
// Load and what the callers experienced

/** Places inbound calls on `number` at `cps` (real calls per second) until stopped. */
export function driveInbound (e: E2eSim, number: string, cps: number, tickMs = 50): { placed: () => number, refused: () => number, stop: () => void } {
  let placed = 0
  let refused = 0
  let owed = 0
  const timer = setInterval(() => {
    owed += cps * tickMs / 1000
    const n = Math.floor(owed)
    owed -= n
    const took = e.place(n, number)
    placed += took
    refused += n - took
  }, tickMs)
  return { placed: () => placed, refused: () => refused, stop: () => { clearInterval(timer) } }
}

/** Files waiting in the agents' call.end spools (`<workDir>/<id>/spool/end-*.json`). */
export function spooled (e: E2eSim): number {
  let n = 0
  for (const id of e.ids) {
    const dir = join(e.workDir, id, 'spool')
    if (!existsSync(dir)) continue
    n += readdirSync(dir).filter((f) => f.startsWith('end-') && f.endsWith('.json')).length
  }
  return n
}

/** Calls rows by status for some instances. */
export async function callStatusCounts (db: Queryable, instanceIds: string[]): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string, n: number }>('SELECT status, count(*)::int AS n FROM calls WHERE instance_id = ANY($1) GROUP BY status', [instanceIds])
  return Object.fromEntries(rows.map((r) => [r.status, r.n]))
}

/** The IVR's callers in the fault suite: everyone presses 1 and sales answers (a call lasts ~1.1 s at speed 10). */
export const IVR_PROFILE = {
  hangup: { rate: 0 },
  play: { promptSec: 2, interruptRate: 0 },
  gather: { noInputRate: 0, think: { medianSec: 1, sigma: 0 }, byPrompt: { 'ivr/menu': { 1: 1 } } },
  dial: { outcomes: { ANSWER: 1, BUSY: 0, NOANSWER: 0, CONGESTION: 0, CHANUNAVAIL: 0 }, ring: { medianSec: 2, sigma: 0 }, talk: { medianSec: 3, sigma: 0 } },
} as const

/** What the sim's callers experienced, from its counters. */
export function experienced (e: E2eSim): { placed: number, completed: number, sorry: number, ended: number, agiErrors: number, active: number } {
  const st = e.stats()
  const ended = Object.values(st.ended).reduce((x, y) => x + y, 0)
  return { placed: st.started.inbound + st.started.outbound, completed: ended - st.sorry - (st.ended.cut ?? 0), sorry: st.sorry, ended, agiErrors: st.agiErrors, active: st.active }
}

/** Call ids whose `start` step some server answered: the calls the tier knows and must record. */
export function callsTheTierSaw (tap: TierTap): string[] {
  const ids = new Set<string>()
  for (const c of tap.calls()) {
    if (c.method === 'call.step' && c.params.event === 'start' && c.attempts.some((a) => a.ok)) ids.add(c.params.callId as string)
  }
  return [...ids]
}

/**
 * Waits until every call the tier saw has an `ended` row (the records may wait in the agents'
 * spools first) and returns how long that took, and what is still missing if it never happens.
 */
export async function awaitRecords (db: Queryable, callIds: string[], timeoutMs: number): Promise<{ ended: number, missing: string[], waitedSec: number }> {
  const t0 = performance.now()
  let missing: string[] = callIds
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { rows } = await db.query<{ call_id: string }>("SELECT call_id FROM calls WHERE call_id = ANY($1) AND status = 'ended'", [callIds])
    const ended = new Set(rows.map((r) => r.call_id))
    missing = callIds.filter((id) => !ended.has(id))
    if (missing.length === 0 || Date.now() > deadline) return { ended: ended.size, missing, waitedSec: since(t0) }
    await sleep(100)
  }
}

// ---------------------------------------------------------------------------------------------
// Campaign invariants

export interface AttemptRow {
  id: string
  contact_id: string
  attempt_no: number
  call_id: string
  instance_id: string
  outcome: string | null
  leased_at: Date
  started_at: Date | null
  ended_at: Date | null
}

export async function attemptsOf (db: Queryable, campaignId: string): Promise<AttemptRow[]> {
  const { rows } = await db.query<AttemptRow>(
    `SELECT id::text, contact_id::text, attempt_no, call_id, instance_id, outcome, leased_at, started_at, ended_at
     FROM attempts WHERE campaign_id = $1 ORDER BY contact_id, leased_at`, [campaignId])
  return rows
}

/**
 * Contacts dialled twice at once: pairs of attempts of one contact whose [leased_at, ended_at]
 * intervals overlap (an open attempt runs to now). Returns a description of each overlap.
 */
export function overlappingAttempts (rows: AttemptRow[], now = new Date()): string[] {
  const out: string[] = []
  const byContact = new Map<string, AttemptRow[]>()
  for (const r of rows) {
    const list = byContact.get(r.contact_id) ?? []
    list.push(r)
    byContact.set(r.contact_id, list)
  }
  for (const [contact, list] of byContact) {
    list.sort((a, b) => a.leased_at.getTime() - b.leased_at.getTime())
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!
      const cur = list[i]!
      const prevEnd = (prev.ended_at ?? now).getTime()
      if (cur.leased_at.getTime() < prevEnd) out.push(`contact ${contact}: attempt ${prev.id} (${prev.outcome ?? 'open'}) overlaps attempt ${cur.id}`)
    }
  }
  return out
}

/** dialled = answered + busy + noanswer + failed + machine + lost, from the campaign's REST stats. */
export function countersAddUp (stats: Record<string, any>): boolean {
  const o = stats.outcomes as Record<string, number>
  return o.answered! + o.busy! + o.noanswer! + o.failed! + o.machine! + o.lost! === stats.dialled
}

export interface CampaignCheck {
  stats: Record<string, any>
  attempts: AttemptRow[]
  /** Contacts dialled twice at once (see overlappingAttempts). */
  overlaps: string[]
  /** Dialled attempts (an outcome other than expired or lost) without an ended calls row. */
  unrecorded: string[]
  /** Calls rows of the campaign still active. */
  activeRows: number
  countersOk: boolean
}

/** The invariants of a campaign run, from the database and the REST stats. */
export async function checkCampaign (db: Queryable, campaignStats: (id: string) => Promise<Record<string, any>>, campaignId: string): Promise<CampaignCheck> {
  const stats = await campaignStats(campaignId)
  const attempts = await attemptsOf(db, campaignId)
  const { rows } = await db.query<{ call_id: string }>(
    `SELECT a.call_id FROM attempts a LEFT JOIN calls c ON c.call_id = a.call_id AND c.status = 'ended'
     WHERE a.campaign_id = $1 AND a.outcome IS NOT NULL AND a.outcome NOT IN ('expired', 'lost') AND c.call_id IS NULL`, [campaignId])
  const { rows: active } = await db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM calls c JOIN attempts a ON a.call_id = c.call_id WHERE a.campaign_id = $1 AND c.status = 'active'", [campaignId])
  return { stats, attempts, overlaps: overlappingAttempts(attempts), unrecorded: rows.map((r) => r.call_id), activeRows: active[0]!.n, countersOk: countersAddUp(stats) }
}

/** Waits until the campaign has nothing left to dial (no open attempt, no contact left to call). */
export async function awaitCampaignDone (campaignStats: (id: string) => Promise<Record<string, any>>, campaignId: string, timeoutMs: number): Promise<Record<string, any>> {
  return await waitFor(async () => {
    const s = await campaignStats(campaignId)
    const c = s.contacts as Record<string, number>
    return s.open === 0 && c.pending === 0 && c.queued === 0 && c.leased === 0 && c.dialing === 0 ? s : null
  }, { timeoutMs, intervalMs: 250, what: `campaign ${campaignId} to finish` })
}

/** The database's clock now (attempt times are the servers' clocks, compared with the database's). */
export async function dbNow (db: Queryable): Promise<Date> {
  const { rows } = await db.query<{ now: Date }>('SELECT clock_timestamp() AS now')
  return rows[0]!.now
}

/** A CSV of `n` distinct US numbers (contacts for a campaign). */
export function contactsCsv (n: number, base = 2_000_000): string {
  return ['phone', ...Array.from({ length: n }, (_, i) => `+1415${String(base + i).padStart(7, '0')}`)].join('\n')
}

/** A callee profile for short campaign calls: everybody answers quickly and votes. */
export const SHORT_POLL_PROFILE = {
  outcomes: { answer: 0.85, busy: 0.05, noanswer: 0.05, congestion: 0.05, unavailable: 0 },
  ring: { medianSec: 2, sigma: 0.2, maxSec: 4 },
  machineRate: 0.05,
  amd: { accuracy: 1, notSureRate: 0, analysisSec: 1 },
  play: { promptSec: 1, interruptRate: 0 },
  hangup: { rate: 0 },
  gather: { noInputRate: 0, think: { medianSec: 0.5, sigma: 0.1, maxSec: 1 }, byPrompt: { 'poll/question': { 1: 55, 2: 45 } } },
} as const

// ---------------------------------------------------------------------------------------------
// The results table

export interface FaultRow {
  fault: string
  /** What was done, e.g. "SIGKILL server A at 6.0 s; restarted at 11.0 s". */
  action: string
  /** Calls the simulated callers placed (inbound) or the fleet started (campaign). */
  calls: number
  completed: number
  sorry: number
  /** Calls rows ended in the database (and results, where the flow stores any). */
  recorded: string
  /** Invariants: each as `name ok` or `name FAILED`. */
  invariants: string[]
  /** Seconds from the fault's end to `recoveryWhat`. */
  recoverySec: number
  recoveryWhat: string
  /** The bound the test asserts on recoverySec. */
  boundSec: number
  notes?: string
  at?: string
  durationSec?: number
}

const RESULTS_DIR = join(ROOT, 'test-results', 'faults')

/** Keeps a fault's row (test-results/faults/<fault>.json) for the suite's table. */
export function recordFault (row: FaultRow): void {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const file = join(RESULTS_DIR, `${row.fault.replace(/[^a-z0-9-]+/gi, '-')}.json`)
  writeFileSync(file, JSON.stringify({ ...row, at: new Date().toISOString() }, null, 2) + '\n')
}

/** Every recorded row (the latest run of each fault), optionally only those newer than `since`. */
export function readFaultRows (since?: Date): FaultRow[] {
  if (!existsSync(RESULTS_DIR)) return []
  const rows = readdirSync(RESULTS_DIR).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as FaultRow)
  const order = ['server-kill', 'memcached-down', 'postgres-restart', 'redis-restart', 'instance-lost', 'slow-network']
  return rows.filter((r) => since === undefined || new Date(r.at ?? 0) >= since)
    .sort((a, b) => (order.indexOf(a.fault) + 100) % 100 - (order.indexOf(b.fault) + 100) % 100 || a.fault.localeCompare(b.fault))
}

/** The rows as a Markdown table. */
export function faultTable (rows: FaultRow[]): string {
  const head = ['fault', 'calls', 'completed', 'sorry', 'recorded', 'invariants', 'recovery', 'took']
  const lines = rows.map((r) => [
    r.fault,
    String(r.calls),
    String(r.completed),
    String(r.sorry),
    r.recorded,
    r.invariants.every((x) => x.endsWith(' ok')) ? `all ${r.invariants.length} ok` : r.invariants.filter((x) => !x.endsWith(' ok')).join('; '),
    `${r.recoverySec.toFixed(1)} s (≤ ${r.boundSec} s) to ${r.recoveryWhat}`,
    r.durationSec === undefined ? '-' : `${Math.round(r.durationSec)} s`,
  ])
  const all = [head, ...lines]
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...all.slice(1).map((l) => `| ${l.join(' | ')} |`),
  ].join('\n')
}

/** Real-time seconds since `t0` (performance.now() based). */
export const since = (t0: number): number => (performance.now() - t0) / 1000

/** Waits `ms` (only to let load run for a while during a phase, never to wait for a condition). */
export const hold = async (ms: number): Promise<void> => { await sleep(ms) }
