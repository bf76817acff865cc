import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { checkUrl, isBlockedAddress, type HttpOutcome, type HttpRequest } from '@federate/flows'

const MAX_BODY = 64 * 1024

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void
/** dns.lookup's shape (tests pass their own resolver). */
export type Lookup = (hostname: string, options: LookupOptions, callback: LookupCallback) => void

// The host part of an allow-list entry: `api.example.com:8443` -> api.example.com, `[::1]:80` -> ::1.
function entryHost (entry: string): string {
  const e = entry.trim().toLowerCase()
  if (e.startsWith('[')) return e.slice(1, e.indexOf(']'))
  return e.split(':').length === 2 ? e.slice(0, e.indexOf(':')) : e
}

class BlockedAddress extends Error {}

/**
 * A resolver for the connection itself that refuses internal addresses. Checking a separate
 * lookup before connecting left a gap (DNS rebinding: the name answers a public address to the
 * check and an internal one to the connection); here the addresses checked are the addresses
 * connected to.
 */
function guardedLookup (host: string, resolve: Lookup): Lookup {
  return (hostname, options, callback) => {
    resolve(hostname, options, (err, address, family) => {
      if (err) return callback(err, address, family)
      const list = Array.isArray(address) ? address : [{ address, family: family ?? 0 }]
      const bad = list.find((a) => isBlockedAddress(a.address))
      if (bad) return callback(new BlockedAddress(`not allowed: ${host} resolves to internal address ${bad.address}`), address, family)
      callback(null, address, family)
    })
  }
}

/**
 * Performs a flow's web hook request: the allow-list (pure check), then every address the host
 * resolves to for the connection must be public unless the host is listed exactly (no SSRF to
 * loopback or metadata addresses through DNS), no redirects followed, a hard timeout and a
 * bounded body.
 */
export async function performHttp (request: HttpRequest, allowList: readonly string[], maxTimeoutMs: number, opts: { lookup?: Lookup } = {}): Promise<HttpOutcome> {
  const check = checkUrl(request.url, allowList)
  if (!check.ok) return { error: `not allowed: ${check.reason}` }
  const host = check.url.hostname.replace(/^\[|\]$/g, '')
  const exact = allowList.some((e) => !e.includes('*') && entryHost(e) === host.toLowerCase())
  // An IP literal is not looked up: check it here.
  if (!exact && isBlockedAddress(host)) return { error: `not allowed: ${host} is an internal address` }
  const timeoutMs = Math.min(request.timeoutMs, maxTimeoutMs)
  const resolver = opts.lookup ?? (dnsLookup as unknown as Lookup)
  const send = check.url.protocol === 'https:' ? httpsRequest : httpRequest
  return await new Promise<HttpOutcome>((resolve) => {
    let settled = false
    const finish = (outcome: HttpOutcome) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(outcome)
    }
    const req = send(check.url, {
      method: request.method,
      headers: request.body === undefined ? request.headers : { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
      lookup: exact ? resolver : guardedLookup(host, resolver),
      // No connection reuse: every request resolves (and is checked) again.
      agent: false,
    }, (res) => {
      readBounded(res).then((body) => { finish({ status: res.statusCode ?? 0, body }) }, (err: Error) => { finish({ error: err.message }) })
    })
    const timer = setTimeout(() => {
      finish({ error: `timed out after ${timeoutMs} ms`, timeout: true })
      req.destroy()
    }, timeoutMs)
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof BlockedAddress) return finish({ error: err.message })
      finish({ error: err.syscall === 'getaddrinfo' ? `cannot resolve ${host}: ${err.message}` : err.message })
    })
    req.end(request.body)
  })
}

async function readBounded (res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.byteLength
    if (size > MAX_BODY) {
      res.destroy()
      break
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, MAX_BODY)
}
