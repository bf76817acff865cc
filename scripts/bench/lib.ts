import { spawn, type ChildProcess } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'

/** Starts a child process and waits until `url` answers (any HTTP status). */
export async function startChild (cmd: string, args: string[], env: Record<string, string>, url: string): Promise<ChildProcess> {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] })
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${cmd} ${args.join(' ')} exited with ${child.exitCode}`)
    try {
      await fetch(url)
      return child
    } catch {
      await sleep(100)
    }
  }
  child.kill('SIGKILL')
  throw new Error(`${url} did not answer within 30 s`)
}

export async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await Promise.race([exited, sleep(5000)])
  if (child.exitCode === null) child.kill('SIGKILL')
}

export interface LoadResult { rps: number, p50: number, p99: number, errors: number, non2xx: number }

/** Posts `body` to `url` for `seconds`; at a fixed rate when `rate` is given, else flat out. */
export async function load (url: string, body: string, headers: Record<string, string>, seconds: number, rate?: number, connections = 32): Promise<LoadResult> {
  const r = await autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'text/xml', ...headers },
    body,
    duration: seconds,
    connections,
    ...(rate ? { overallRate: rate } : {}),
  })
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors, non2xx: r.non2xx }
}

export function table (rows: Array<Record<string, string | number>>): string {
  const keys = Object.keys(rows[0]!)
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [line(keys), line(keys.map(() => '---')), ...rows.map((r) => line(keys.map((k) => String(r[k]))))].join('\n')
}
