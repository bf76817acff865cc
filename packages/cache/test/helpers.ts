import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { freePort, waitFor } from '@federate/testkit'

/** Whether memcached answers `version` on the port. */
export function answers (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    const done = (ok: boolean): void => { clearTimeout(timer); s.destroy(); resolve(ok) }
    const timer = setTimeout(() => done(false), 500)
    s.on('connect', () => s.write('version\r\n'))
    s.on('data', (d) => done(d.toString().startsWith('VERSION')))
    s.on('error', () => done(false))
  })
}

/**
 * A private memcached on a free port for one test: `stop` kills it, `start` brings it back on
 * the same port, `pause`/`resume` freeze it (a server that accepts connections but never
 * answers). Register `close` with t.after.
 */
export async function startMemcached () {
  const port = await freePort()
  let child: ChildProcess | null = null
  const start = async (): Promise<void> => {
    const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', '64']
    if (process.getuid?.() === 0) args.push('-u', 'nobody') // memcached refuses to run as root
    child = spawn('memcached', args, { stdio: 'ignore' })
    child.on('error', () => {})
    await waitFor(() => answers(port), { timeoutMs: 5000, what: `memcached on ${port}` })
  }
  const stop = async (): Promise<void> => {
    const c = child
    if (c === null || c.exitCode !== null) return
    child = null
    c.kill('SIGCONT')
    await new Promise<void>((resolve) => { c.once('exit', () => resolve()); c.kill('SIGKILL') })
  }
  await start()
  return {
    port,
    server: `127.0.0.1:${port}`,
    start,
    stop,
    /** Freezes the server and waits until the kernel reports it stopped (state T). */
    pause: async (): Promise<void> => {
      const c = child
      if (c === null) return
      c.kill('SIGSTOP')
      await waitFor(() => /^\d+ \(.*\) T/.test(readFileSync(`/proc/${c.pid}/stat`, 'utf8')), { timeoutMs: 2000, intervalMs: 5, what: 'memcached stopped' })
    },
    resume: () => { child?.kill('SIGCONT') },
    close: stop,
  }
}
