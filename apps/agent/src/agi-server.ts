import { createServer, type Server, type Socket } from 'node:net'
import type { Logger } from 'pino'
import { AgiConnection } from './agi-connection.ts'

// The FastAGI listener: every connection is one AGI request (one step of one call), handled
// start to end and closed. close() stops accepting, lets requests in progress finish (up to a
// deadline), then cuts the rest.

export type AgiHandler = (conn: AgiConnection, env: Record<string, string>) => Promise<string>

export interface AgiServerOptions {
  host: string
  port: number
  readTimeoutMs: number
  logger: Logger
  handler: AgiHandler
  /** Called with each request's script, outcome and duration in seconds. */
  observe?: (script: string, outcome: string, seconds: number) => void
}

export class AgiServer {
  private readonly server: Server
  private readonly sockets = new Set<Socket>()
  private readonly inflight = new Set<Promise<void>>()
  private closing: Promise<void> | null = null
  private readonly opts: AgiServerOptions
  port = 0

  constructor (opts: AgiServerOptions) {
    this.opts = opts
    this.server = createServer({ noDelay: true }, (socket) => { this.accept(socket) })
  }

  async listen (): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    const addr = this.server.address()
    this.port = typeof addr === 'object' && addr ? addr.port : this.opts.port
    this.server.on('error', (err) => { this.opts.logger.error({ err }, 'FastAGI server error') })
    return this.port
  }

  /** Requests being handled now. */
  get active (): number {
    return this.inflight.size
  }

  private accept (socket: Socket): void {
    if (this.closing) {
      socket.destroy()
      return
    }
    this.sockets.add(socket)
    socket.once('close', () => { this.sockets.delete(socket) })
    const started = performance.now()
    const conn = new AgiConnection(socket, { readTimeoutMs: this.opts.readTimeoutMs })
    let script = 'unknown'
    const run = (async () => {
      let outcome = 'error'
      try {
        const env = await conn.readEnv()
        script = (env.network_script ?? '').replace(/^\/+/, '').split(/[/?]/)[0] || 'unknown'
        outcome = await this.opts.handler(conn, env)
      } catch (err) {
        this.opts.logger.warn({ err, script }, 'AGI request failed')
      } finally {
        conn.close()
        this.opts.observe?.(script, outcome, (performance.now() - started) / 1000)
      }
    })()
    this.inflight.add(run)
    run.finally(() => { this.inflight.delete(run) }).catch(() => {})
  }

  /** Stops accepting, waits up to graceMs for requests in progress, then cuts the rest. Idempotent. */
  async close (graceMs = 5000): Promise<void> {
    this.closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => { this.server.close(() => { resolve() }) })
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.allSettled([...this.inflight]),
        new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs) }),
      ])
      clearTimeout(timer)
      for (const s of this.sockets) s.destroy()
      await stopped
    })()
    await this.closing
  }
}
