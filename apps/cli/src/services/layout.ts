import { isAbsolute, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root: apps/cli/src/services -> four levels up. */
export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../..')

/**
 * Where local services keep their files: `<root>/<service>/` for data, `<root>/run/` for pid and
 * state files, `<root>/log/` for logs. The root is `.data` at the repository root unless
 * FEDERATE_DATA_DIR says otherwise (tests use a temporary directory).
 */
export interface Layout {
  root: string
  run: string
  log: string
  dataOf: (name: string) => string
  pidFile: (name: string) => string
  stateFile: (name: string) => string
  logFile: (name: string) => string
  /** A path as people read it: relative to the repository when inside it. */
  show: (path: string) => string
}

export function layoutFor (dataDir: string, cwd = process.cwd()): Layout {
  const root = dataDir === '' ? join(REPO_ROOT, '.data') : isAbsolute(dataDir) ? dataDir : resolve(cwd, dataDir)
  const run = join(root, 'run')
  const log = join(root, 'log')
  return {
    root,
    run,
    log,
    dataOf: (name) => join(root, name),
    pidFile: (name) => join(run, `${name}.pid`),
    stateFile: (name) => join(run, `${name}.json`),
    logFile: (name) => join(log, `${name}.log`),
    show: (path) => {
      const rel = relative(REPO_ROOT, path)
      return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path
    },
  }
}
