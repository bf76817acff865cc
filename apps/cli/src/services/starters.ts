import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Layout } from './layout.ts'
import { probe } from './probes.ts'
import { isAlive, logTail, readPid, run, spawnDetached, stopProcess, waitUntil } from './process.ts'
import type { System } from './system.ts'
import { address, LABELS, type ServiceKind, type ServiceTarget } from './targets.ts'

export interface StartContext {
  target: ServiceTarget
  layout: Layout
  sys: System
  /** The server binary (or PostgreSQL's bin directory) found by findServer. */
  binary: string
  report: (line: string) => void
  s3: { bucket: string, accessKeyId: string, secretAccessKey: string }
}

export interface Started {
  pid: number
  dataDir: string | null
}

/** How each server is stopped cleanly, and the word its command line must contain. */
export const STOP: Record<ServiceKind, { signal: NodeJS.Signals, word: string }> = {
  // SIGINT is PostgreSQL's "fast" shutdown: SIGTERM ("smart") would wait for every client.
  postgres: { signal: 'SIGINT', word: 'postgres' },
  redis: { signal: 'SIGTERM', word: 'redis-server' },
  memcached: { signal: 'SIGTERM', word: 'memcached' },
  s3: { signal: 'SIGTERM', word: 's3rver-main' },
}

const START_TIMEOUT_MS = 20_000

// Servers bind IP addresses; `localhost` means the IPv4 loopback here.
const bindAddress = (host: string): string => host === 'localhost' ? '127.0.0.1' : host

/**
 * Waits until the new server answers. If it never does, the process we started (`pid`, or the
 * one `pidOf` finds) is killed, so a failed start leaves nothing running behind.
 */
async function waitAnswering (ctx: StartContext, pid: number | null, log = ctx.layout.logFile(ctx.target.name), pidOf?: () => number | null): Promise<void> {
  try {
    await waitAnsweringOnce(ctx, pid, log)
  } catch (err) {
    const running = pid ?? pidOf?.() ?? null
    if (running !== null && isAlive(running)) await stopProcess(running, STOP[ctx.target.kind].signal, 5000)
    throw err
  }
}

async function waitAnsweringOnce (ctx: StartContext, pid: number | null, log: string): Promise<void> {
  const { target, layout } = ctx
  await waitUntil(
    async () => (await probe(target)).answering,
    START_TIMEOUT_MS,
    `${LABELS[target.kind]} started but does not answer on ${address(target)}; log ${layout.show(log)}:\n${logTail(log)}`,
    () => pid !== null && !isAlive(pid) ? `${LABELS[target.kind]} exited right after starting; log ${layout.show(log)}:\n${logTail(log)}` : null
  )
}

function prepareDirs (layout: Layout, ...dirs: string[]): void {
  for (const d of [layout.run, layout.log, ...dirs]) mkdirSync(d, { recursive: true })
}

export async function startRedis (ctx: StartContext): Promise<Started> {
  const { target, layout } = ctx
  const dataDir = layout.dataOf(target.name)
  prepareDirs(layout, dataDir)
  const pidFile = layout.pidFile(target.name)
  // No persistence: the queues' durable truth is PostgreSQL, and a dev Redis keeps nothing.
  await run(ctx.binary, [
    '--port', String(target.port), '--bind', bindAddress(target.host), '--daemonize', 'yes',
    '--dir', dataDir, '--pidfile', pidFile, '--logfile', layout.logFile(target.name),
    '--save', '', '--appendonly', 'no',
  ], { timeoutMs: 10_000, what: 'redis-server' })
  await waitAnswering(ctx, null, undefined, () => readPid(pidFile))
  await waitUntil(() => readPid(pidFile) !== null, 5000, `redis-server wrote no pid file ${layout.show(pidFile)}`)
  return { pid: readPid(pidFile) as number, dataDir }
}

export async function startMemcached (ctx: StartContext): Promise<Started> {
  const { target, layout, sys } = ctx
  prepareDirs(layout)
  const args = ['-l', bindAddress(target.host), '-p', String(target.port), '-U', '0', '-m', '256']
  // memcached refuses to run as root without a user to switch to.
  if (sys.isRoot()) args.push('-u', sys.userExists('memcache') ? 'memcache' : 'nobody')
  const pid = spawnDetached(ctx.binary, args, { logFile: layout.logFile(target.name) })
  await waitAnswering(ctx, pid)
  return { pid, dataDir: null }
}

const S3RVER_MAIN = fileURLToPath(new URL('./s3rver-main.mjs', import.meta.url))

export async function startS3 (ctx: StartContext): Promise<Started> {
  const { target, layout } = ctx
  const dataDir = layout.dataOf(target.name)
  prepareDirs(layout, dataDir)
  const pid = spawnDetached(process.execPath, [S3RVER_MAIN], {
    logFile: layout.logFile(target.name),
    cwd: dataDir,
    env: {
      PATH: process.env.PATH,
      S3RVER_HOST: bindAddress(target.host),
      S3RVER_PORT: String(target.port),
      S3RVER_DIR: dataDir,
      S3RVER_BUCKET: ctx.s3.bucket,
      S3RVER_ACCESS_KEY_ID: ctx.s3.accessKeyId,
      S3RVER_SECRET_ACCESS_KEY: ctx.s3.secretAccessKey,
    },
  })
  await waitAnswering(ctx, pid)
  return { pid, dataDir }
}

/** Runs a command as the `postgres` OS user when we are root (initdb and postgres refuse root). */
async function asPostgres (ctx: StartContext, cmd: string, args: string[], what: string, timeoutMs: number): Promise<void> {
  if (!ctx.sys.isRoot()) {
    await run(cmd, args, { timeoutMs, what })
  } else if (ctx.sys.which('runuser') !== null) {
    await run('runuser', ['-u', 'postgres', '--', cmd, ...args], { timeoutMs, what })
  } else {
    const quoted = [cmd, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
    await run('su', ['-s', '/bin/sh', 'postgres', '-c', quoted], { timeoutMs, what })
  }
}

function pgUid (): { uid: number, gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'))
  const [, , uid, gid] = line?.split(':') ?? []
  return { uid: Number(uid), gid: Number(gid) }
}

/**
 * The cluster lives in .data/postgres, owned by the postgres user. When that user cannot reach
 * the repository (a checkout under /root), it goes to /var/lib/postgresql/federate-<port>.
 */
async function postgresDataDir (ctx: StartContext): Promise<string> {
  const preferred = ctx.layout.dataOf(ctx.target.name)
  if (!ctx.sys.isRoot()) return preferred
  const { uid, gid } = pgUid()
  mkdirSync(preferred, { recursive: true, mode: 0o700 })
  chownSync(preferred, uid, gid)
  try {
    await asPostgres(ctx, 'test', ['-w', preferred, '-a', '-x', preferred], 'checking the data directory', 5000)
    return preferred
  } catch {
    const fallback = existsSync('/var/lib/postgresql') ? `/var/lib/postgresql/federate-${ctx.target.port}` : `/var/tmp/federate-postgres-${ctx.target.port}`
    ctx.report(`postgres: the postgres user cannot reach ${preferred}; using ${fallback}`)
    mkdirSync(fallback, { recursive: true, mode: 0o700 })
    chownSync(fallback, uid, gid)
    return fallback
  }
}

export async function startPostgres (ctx: StartContext): Promise<Started> {
  const { target, layout, sys } = ctx
  prepareDirs(layout)
  if (sys.isRoot() && !sys.userExists('postgres')) {
    ctx.report('postgres: creating the postgres system user')
    await run('useradd', ['--system', '--user-group', '--create-home', '--home-dir', '/var/lib/postgresql', '--shell', '/bin/bash', 'postgres'], { timeoutMs: 10_000, what: 'useradd postgres' })
  }
  const dataDir = await postgresDataDir(ctx)
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    ctx.report(`postgres: initdb ${layout.show(dataDir)} (trust auth for local connections, superuser postgres; a few seconds)`)
    await asPostgres(ctx, join(ctx.binary, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-locale'], 'initdb', 120_000)
  }
  // The server writes its own log, so it must be somewhere the postgres user can write.
  const log = dataDir === layout.dataOf(target.name) ? layout.logFile(target.name) : join(dataDir, 'federate-server.log')
  closeSync(openSync(log, 'a'))
  if (sys.isRoot()) { const { uid, gid } = pgUid(); chownSync(log, uid, gid) }
  // No Unix socket: the apps connect over TCP, and the system's cluster may own the default one.
  const options = `-p ${target.port} -c listen_addresses='${bindAddress(target.host)}' -c unix_socket_directories=''`
  await asPostgres(ctx, join(ctx.binary, 'pg_ctl'), ['-D', dataDir, '-l', log, '-w', '-t', '60', '-o', options, 'start'], 'pg_ctl start', 90_000)
  const pid = readPid(join(dataDir, 'postmaster.pid'))
  await waitAnswering(ctx, pid, log)
  if (pid === null) throw new Error(`PostgreSQL is running but ${join(dataDir, 'postmaster.pid')} has no pid`)
  return { pid, dataDir }
}

export const STARTERS: Record<ServiceKind, (ctx: StartContext) => Promise<Started>> = {
  postgres: startPostgres,
  redis: startRedis,
  memcached: startMemcached,
  s3: startS3,
}
