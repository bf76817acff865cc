import { CliError, EXIT } from '../output.ts'
import { run } from './process.ts'
import type { System } from './system.ts'
import { LABELS, type ServiceKind } from './targets.ts'

/** The Debian package that provides each server (s3rver comes from npm with the workspace). */
export const PACKAGES: Record<Exclude<ServiceKind, 's3'>, { pkg: string, binary: string, variable: string }> = {
  postgres: { pkg: 'postgresql', binary: 'pg_ctl and initdb', variable: 'DATABASE_URL' },
  redis: { pkg: 'redis-server', binary: 'redis-server', variable: 'REDIS_URL' },
  memcached: { pkg: 'memcached', binary: 'memcached', variable: 'MEMCACHED_SERVERS' },
}

/** Where the server binary for a kind is, or null when it is not installed. */
export function findServer (kind: ServiceKind, sys: System): string | null {
  switch (kind) {
    case 'postgres': return sys.postgresBinDir()
    case 'redis': return sys.which('redis-server')
    case 'memcached': return sys.which('memcached')
    case 's3': return 'node'
  }
}

/** The exact words for a server that is missing and that we may not install ourselves. */
export function missingMessage (kind: Exclude<ServiceKind, 's3'>, sys: System): string {
  const { pkg, binary, variable } = PACKAGES[kind]
  const head = `${LABELS[kind]} is not installed (no ${binary} found).`
  const tail = `or set ${variable} to a ${LABELS[kind]} server that is already running.`
  if (sys.hasAptGet()) return `${head} Install the Debian package ${pkg}: sudo apt-get install -y ${pkg} — ${tail}`
  return `${head} Install ${pkg} with your system's package manager (Debian/Ubuntu: sudo apt-get install -y ${pkg}) — ${tail}`
}

/**
 * Decides what to do about missing servers: as root with apt-get, install their packages;
 * otherwise fail with one line per server saying what to run (exit 3).
 */
export function planInstall (missing: Array<Exclude<ServiceKind, 's3'>>, sys: System): { packages: string[] } {
  if (missing.length === 0) return { packages: [] }
  if (sys.isRoot() && sys.hasAptGet()) return { packages: [...new Set(missing.map((k) => PACKAGES[k].pkg))] }
  throw new CliError(missing.map((k) => missingMessage(k, sys)).join('\n'), EXIT.UNAVAILABLE)
}

/** apt-get update once, then one install for every package; bounded, with progress lines. */
export async function aptInstall (packages: string[], report: (line: string) => void): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  report('apt-get update (package lists; up to a few minutes)')
  await run('apt-get', ['update'], { timeoutMs: 300_000, what: 'apt-get update', env })
  report(`apt-get install -y --no-install-recommends ${packages.join(' ')}`)
  await run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { timeoutMs: 600_000, what: `apt-get install ${packages.join(' ')}`, env })
  report(`installed ${packages.join(', ')}`)
}
