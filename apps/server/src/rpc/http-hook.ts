import { lookup } from 'node:dns/promises'
import { checkUrl, isBlockedAddress, type HttpOutcome, type HttpRequest } from '@federate/flows'

const MAX_BODY = 64 * 1024

// The host part of an allow-list entry: `api.example.com:8443` -> api.example.com, `[::1]:80` -> ::1.
function entryHost (entry: string): string {
  const e = entry.trim().toLowerCase()
  if (e.startsWith('[')) return e.slice(1, e.indexOf(']'))
  return e.split(':').length === 2 ? e.slice(0, e.indexOf(':')) : e
}

/**
 * Performs a flow's web hook request: the allow-list (pure check), then every address the host
 * resolves to must be public unless the host is listed exactly (no SSRF to loopback or metadata
 * addresses through DNS), no redirects followed, a hard timeout and a bounded body.
 */
export async function performHttp (request: HttpRequest, allowList: readonly string[], maxTimeoutMs: number): Promise<HttpOutcome> {
  const check = checkUrl(request.url, allowList)
  if (!check.ok) return { error: `not allowed: ${check.reason}` }
  const host = check.url.hostname.replace(/^\[|\]$/g, '')
  const exact = allowList.some((e) => !e.includes('*') && entryHost(e) === host.toLowerCase())
  if (!exact) {
    try {
      const addresses = await lookup(host, { all: true })
      const bad = addresses.find((a) => isBlockedAddress(a.address))
      if (bad) return { error: `not allowed: ${host} resolves to internal address ${bad.address}` }
    } catch (err) {
      return { error: `cannot resolve ${host}: ${(err as Error).message}` }
    }
  }
  const timeoutMs = Math.min(request.timeoutMs, maxTimeoutMs)
  try {
    const res = await fetch(check.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    })
    const body = await readBounded(res)
    return { status: res.status, body }
  } catch (err) {
    const timeout = (err as Error).name === 'TimeoutError'
    return timeout ? { error: `timed out after ${timeoutMs} ms`, timeout: true } : { error: (err as Error).message }
  }
}

async function readBounded (res: Response): Promise<string> {
  if (res.body === null) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength
    if (size > MAX_BODY) break
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, MAX_BODY)
}
