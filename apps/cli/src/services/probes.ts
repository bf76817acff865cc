import { connect, type Socket } from 'node:net'
import { request } from 'node:http'
import pg from 'pg'
import { address, type ServiceTarget } from './targets.ts'

/**
 * What a real protocol check found: `answering` means the service itself replied; `occupied`
 * means something accepted the TCP connection but did not speak the protocol (a port clash).
 */
export interface ProbeResult {
  answering: boolean
  occupied: boolean
  detail: string
}

const answered = (detail: string): ProbeResult => ({ answering: true, occupied: false, detail })
const silent = (detail: string): ProbeResult => ({ answering: false, occupied: false, detail })
const clash = (detail: string): ProbeResult => ({ answering: false, occupied: true, detail })

/**
 * Sends `payload` over a raw TCP connection and resolves with what came back once `done` says
 * the reply is complete (or the server closed). Every path is bounded by `timeoutMs`.
 */
function exchange (host: string, port: number, payload: string, done: (reply: string) => boolean, timeoutMs: number): Promise<{ connected: boolean, reply: string, error?: string }> {
  return new Promise((resolve) => {
    let reply = ''
    let connected = false
    let settled = false
    const socket: Socket = connect({ host, port })
    const finish = (error?: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ connected, reply, error })
    }
    const timer = setTimeout(() => finish(`no reply within ${timeoutMs} ms`), timeoutMs)
    socket.setEncoding('latin1')
    socket.on('connect', () => {
      connected = true
      socket.write(payload)
    })
    socket.on('data', (chunk: string) => {
      reply += chunk
      if (done(reply)) finish()
    })
    socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message))
    socket.on('close', () => finish())
  })
}

/** Redis answers an inline PING with +PONG, or with an error such as -NOAUTH: both are Redis. */
export async function probeRedis (host: string, port: number, timeoutMs = 1000): Promise<ProbeResult> {
  const r = await exchange(host, port, 'PING\r\n', (s) => s.includes('\r\n'), timeoutMs)
  if (/^\+PONG\r\n/.test(r.reply)) return answered('PONG')
  if (/^-(NOAUTH|WRONGPASS|ERR)/.test(r.reply)) return answered(r.reply.trim())
  return r.connected ? clash(r.reply ? `unexpected reply ${JSON.stringify(r.reply.slice(0, 40))}` : (r.error ?? 'no reply')) : silent(r.error ?? 'closed')
}

/** Memcached's text protocol: `version` -> `VERSION 1.6.18`. */
export async function probeMemcached (host: string, port: number, timeoutMs = 1000): Promise<ProbeResult> {
  const r = await exchange(host, port, 'version\r\n', (s) => s.includes('\r\n'), timeoutMs)
  const m = /^VERSION (\S+)\r\n/.exec(r.reply)
  if (m) return answered(`memcached ${m[1]}`)
  return r.connected ? clash(r.reply ? `unexpected reply ${JSON.stringify(r.reply.slice(0, 40))}` : (r.error ?? 'no reply')) : silent(r.error ?? 'closed')
}

/**
 * Logs in with the apps' own URL and runs SELECT 1. A server error (a missing database, a
 * wrong password) still proves a PostgreSQL server is there, so it counts as answering.
 */
export async function probePostgres (url: string, timeoutMs = 2000): Promise<ProbeResult> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
    return answered('SELECT 1 ok')
  } catch (err) {
    const e = err as { code?: string, message?: string }
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return answered(`server said: ${e.message ?? e.code} (${e.code})`)
    if (e.code === 'ECONNREFUSED' || e.code === 'EHOSTUNREACH' || e.code === 'ENOTFOUND') return silent(e.code)
    // Connected but no PostgreSQL handshake: something else holds the port.
    const u = new URL(url)
    const tcp = await tcpOpen(u.hostname.replace(/^\[|\]$/g, ''), Number(u.port || 5432), timeoutMs)
    return tcp ? clash(e.message ?? String(err)) : silent(e.message ?? String(err))
  } finally {
    await client.end().catch(() => {})
  }
}

/** An S3 server answers GET / with an XML document (a bucket list or an S3 <Error>). */
export function probeS3 (endpoint: string, timeoutMs = 1000): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false
    const finish = (r: ProbeResult): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.destroy()
      resolve(r)
    }
    const req = request(new URL('/', endpoint), { method: 'GET' }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { if (body.length < 4096) body += c })
      res.on('end', () => {
        const s3ish = res.headers['x-amz-request-id'] !== undefined || /ListAllMyBucketsResult|<Error>/.test(body)
        finish(s3ish ? answered(`HTTP ${res.statusCode ?? '?'}`) : clash(`HTTP ${res.statusCode ?? '?'} without an S3 reply`))
      })
      res.on('error', (err) => finish(clash(err.message)))
    })
    const timer = setTimeout(() => finish(silent(`no reply within ${timeoutMs} ms`)), timeoutMs)
    let connected = false
    req.on('socket', (sock) => sock.once('connect', () => { connected = true }))
    // Connected but not HTTP (a parse error) means another program holds the port.
    req.on('error', (err: NodeJS.ErrnoException) => finish(connected ? clash(err.code ?? err.message) : silent(err.code ?? err.message)))
    req.end()
  })
}

/** Whether anything accepts TCP connections there. */
export function tcpOpen (host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const finish = (open: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(open)
    }
    const timer = setTimeout(() => finish(false), timeoutMs)
    socket.on('connect', () => finish(true))
    socket.on('error', () => finish(false))
  })
}

/** The protocol check for one target. */
export async function probe (t: ServiceTarget): Promise<ProbeResult> {
  switch (t.kind) {
    case 'postgres': return await probePostgres(t.url ?? `postgres://postgres@${address(t)}/postgres`)
    case 'redis': return await probeRedis(t.host, t.port)
    case 'memcached': return await probeMemcached(t.host, t.port)
    case 's3': return await probeS3(t.url ?? `http://${address(t)}`)
  }
}
