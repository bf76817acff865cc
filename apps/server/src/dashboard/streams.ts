import type { ServerResponse } from 'node:http'
import type { FastifyBaseLogger as Logger } from 'fastify'
import type { Queryable } from '@federate/db'
import type { DashboardFeed, Snapshot } from './feed.ts'
import type { TicketHolder } from './ticket.ts'

interface Client { res: ServerResponse, holder: TicketHolder, unsubscribe: () => void }

export interface StreamHubOptions {
  feed: DashboardFeed
  db: Queryable
  logger: Logger
  /** A comment line this often keeps proxies from closing an idle stream (default 15 s). */
  heartbeatMs?: number
  /** How often open streams are checked against revoked API keys (default 5 s). */
  revocationCheckMs?: number
  maxClients?: number
}

const frame = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`

/**
 * The open Server-Sent Events streams: each gets the feed's snapshots (the first one with the
 * plots' history), a heartbeat, and is ended when its API key is revoked or the server closes.
 * A client that cannot keep up (its socket buffer is full) skips snapshots instead of queueing them.
 */
export function createStreamHub (options: StreamHubOptions) {
  const { feed, db, logger } = options
  const heartbeatMs = options.heartbeatMs ?? 15_000
  const revocationCheckMs = options.revocationCheckMs ?? 5_000
  const maxClients = options.maxClients ?? 200
  const clients = new Set<Client>()
  let timers: NodeJS.Timeout[] = []

  function write (client: Client, chunk: string): void {
    if (client.res.writableEnded || client.res.writableNeedDrain) return
    client.res.write(chunk)
  }

  function end (client: Client, last?: string): void {
    if (!clients.delete(client)) return
    client.unsubscribe()
    if (!client.res.writableEnded) client.res.end(last)
    if (clients.size === 0) stopTimers()
  }

  async function checkRevoked (): Promise<void> {
    const ids = [...new Set([...clients].map((c) => c.holder.keyId))]
    if (ids.length === 0) return
    const { rows } = await db.query('SELECT id FROM api_keys WHERE id = ANY($1) AND revoked_at IS NOT NULL', [ids])
    const revoked = new Set(rows.map((r) => r.id as string))
    for (const c of clients) if (revoked.has(c.holder.keyId)) end(c, frame('logout', { reason: 'the API key was revoked' }))
  }

  function startTimers (): void {
    timers = [
      setInterval(() => { for (const c of clients) write(c, ': heartbeat\n\n') }, heartbeatMs),
      setInterval(() => {
        checkRevoked().catch((err: unknown) => { logger.warn({ err }, 'could not check the dashboard streams\' keys') })
      }, revocationCheckMs),
    ]
    for (const t of timers) t.unref()
  }

  function stopTimers (): void {
    for (const t of timers) clearInterval(t)
    timers = []
  }

  return {
    get size (): number { return clients.size },
    get full (): boolean { return clients.size >= maxClients },
    /** Turns `res` into an event stream for `holder`; the caller has hijacked the reply. */
    open (res: ServerResponse, holder: TicketHolder): void {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-store',
        'x-accel-buffering': 'no',
        // Nothing follows a stream on its connection: closing it with the stream lets a closing server finish.
        connection: 'close',
      })
      res.flushHeaders()
      let sentHistory = false
      const send = (s: Snapshot) => {
        if (sentHistory) return write(client, frame('snapshot', s))
        sentHistory = true
        write(client, frame('snapshot', { ...s, history: feed.history() }))
      }
      const client: Client = { res, holder, unsubscribe: () => {} }
      clients.add(client)
      if (clients.size === 1) startTimers()
      const current = feed.current()
      if (current !== undefined) send(current)
      client.unsubscribe = feed.subscribe(send)
      res.on('close', () => { end(client) })
    },
    /** Ends every stream (on server close: an open stream would keep app.close() waiting). */
    closeAll (): void {
      for (const c of [...clients]) end(c)
      stopTimers()
    },
  }
}

export type StreamHub = ReturnType<typeof createStreamHub>
