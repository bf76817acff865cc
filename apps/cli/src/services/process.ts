import { spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, unlinkSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

/** Runs a command to completion within `timeoutMs`; throws with its output's tail on failure. */
export async function run (
  cmd: string,
  args: string[],
  { timeoutMs, what, env, cwd = '/' }: { timeoutMs: number, what: string, env?: NodeJS.ProcessEnv, cwd?: string }
): Promise<{ stdout: string, stderr: string }> {
  return await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout = (stdout + c).slice(-64_000) })
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr = (stderr + c).slice(-64_000) })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${what} did not finish within ${Math.round(timeoutMs / 1000)} s (${cmd} ${args.join(' ')})`))
    }, timeoutMs)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(new Error(`${what} could not run ${cmd}: ${err.message}`, { cause: err }))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve({ stdout, stderr })
      else reject(new Error(`${what} failed (${signal ?? `exit ${code}`}): ${tail(stderr || stdout, 8)}`))
    })
  })
}

/**
 * Starts a process that outlives this one (own session, output appended to `logFile`) and
 * returns its pid.
 */
export function spawnDetached (cmd: string, args: string[], { logFile, env, cwd = '/' }: { logFile: string, env?: NodeJS.ProcessEnv, cwd?: string }): number {
  const fd = openSync(logFile, 'a')
  try {
    const child = spawn(cmd, args, { cwd, env: env ?? process.env, detached: true, stdio: ['ignore', fd, fd] })
    child.on('error', () => {}) // a missing binary shows up as "not alive" below
    child.unref()
    if (child.pid === undefined) throw new Error(`could not start ${cmd}`)
    return child.pid
  } finally {
    closeSync(fd)
  }
}

export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Whether `pid` is still the program we started (pids are reused). Reads /proc where there is
 * one; elsewhere trusts that the pid is alive.
 */
export function isProcessOf (pid: number, word: string): boolean {
  if (!isAlive(pid)) return false
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    // A zombie (our own exited child not yet reaped) has an empty cmdline.
    return cmdline.includes(word)
  } catch {
    return !existsSync('/proc/self')
  }
}

/** Sends `signal`, waits up to `timeoutMs` for the process to go, then SIGKILLs it. */
export async function stopProcess (pid: number, signal: NodeJS.Signals, timeoutMs: number): Promise<'stopped' | 'killed' | 'gone'> {
  if (!isAlive(pid)) return 'gone'
  try {
    process.kill(pid, signal)
  } catch {
    return 'gone'
  }
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (!isAlive(pid) || isZombie(pid)) return 'stopped'
    await sleep(50)
  }
  try { process.kill(pid, 'SIGKILL') } catch {}
  return 'killed'
}

function isZombie (pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

/** Polls `check` until it is true; throws `message` after `timeoutMs`. Every wait here is bounded. */
export async function waitUntil (check: () => Promise<boolean> | boolean, timeoutMs: number, message: string, stop?: () => string | null): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    const reason = stop?.()
    if (reason) throw new Error(reason)
    if (Date.now() > deadline) throw new Error(`${message} (waited ${Math.round(timeoutMs / 1000)} s)`)
    await sleep(100)
  }
}

export function readPid (file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').split('\n')[0]?.trim())
    return Number.isInteger(pid) && pid > 0 ? pid : null
  } catch {
    return null
  }
}

export function removeFile (file: string): void {
  try { unlinkSync(file) } catch {}
}

/** The last lines of a log, for error messages. */
export function tail (text: string, lines: number): string {
  return text.trim().split('\n').slice(-lines).join('\n')
}

export function logTail (file: string, lines = 8): string {
  try {
    return tail(readFileSync(file, 'utf8'), lines)
  } catch {
    return '(no log)'
  }
}
