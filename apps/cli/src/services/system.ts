import { accessSync, constants, readdirSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { delimiter, join } from 'node:path'

/**
 * What `services up` asks of the machine before deciding to install or start anything.
 * Injectable so the decisions (install with apt-get, or tell the user what to run) are tested
 * without touching the machine.
 */
export interface System {
  isRoot: () => boolean
  /** The absolute path of an executable, or null. Looks in PATH and the sbin directories. */
  which: (bin: string) => string | null
  /** The newest /usr/lib/postgresql/<version>/bin holding pg_ctl and initdb, or null. */
  postgresBinDir: () => string | null
  userExists: (name: string) => boolean
  hasAptGet: () => boolean
}

function executable (path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

function which (bin: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']
  for (const dir of dirs) {
    if (dir !== '' && executable(join(dir, bin))) return join(dir, bin)
  }
  return null
}

function postgresBinDir (): string | null {
  let versions: string[] = []
  try {
    versions = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a))
  } catch {}
  for (const v of versions) {
    const dir = `/usr/lib/postgresql/${v}/bin`
    if (executable(join(dir, 'pg_ctl')) && executable(join(dir, 'initdb'))) return dir
  }
  // Other layouts (a source build, Homebrew): pg_ctl and initdb side by side on PATH.
  const pgCtl = which('pg_ctl')
  if (pgCtl !== null) {
    const dir = pgCtl.slice(0, pgCtl.lastIndexOf('/'))
    if (executable(join(dir, 'initdb'))) return dir
  }
  return null
}

export const realSystem: System = {
  isRoot: () => process.getuid?.() === 0,
  which,
  postgresBinDir,
  userExists: (name) => spawnSync('id', ['-u', name], { stdio: 'ignore' }).status === 0,
  hasAptGet: () => which('apt-get') !== null,
}
