import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

const CLI = fileURLToPath(new URL('../main.ts', import.meta.url))

export interface Child { name: string, url: string, process: ChildProcess, stop: () => Promise<void> }

/**
 * Starts `federate serve` as a child process with `env`, logging to `logFile`, and waits until it
 * answers /healthz (bounded). stop() sends SIGTERM and waits for the graceful close.
 */
export async function startServerChild (name: string, port: number, env: Record<string, string>, logFile: string): Promise<Child> {
  const log = createWriteStream(logFile, { flags: 'a' })
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--port', String(port)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout!.pipe(log)
  child.stderr!.pipe(log)
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with code ${child.exitCode}; see ${logFile}`)
    try {
      if ((await fetch(`${url}/healthz`)).ok) break
    } catch {}
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${name} did not answer on ${url} within 60 s; see ${logFile}`)
    }
    await sleep(200)
  }
  return {
    name,
    url,
    process: child,
    async stop () {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await Promise.race([exited, sleep(15_000)])
      if (child.exitCode === null) child.kill('SIGKILL')
    },
  }
}
