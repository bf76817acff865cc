import { isIP } from 'node:net'

// FEDERATE_TRUST_PROXY: which X-Forwarded-For entry is the client (the address the authentication
// rate limit counts). Fastify's trustProxy takes the same three forms.
// - false (default): the connection's address; behind a load balancer every client shares it.
// - a hop count, 1-10: the entry that many proxies from the right, i.e. the address your own
//   proxies saw. Right for an ALB, which passes the client's header through and appends to it.
// - addresses/CIDRs of your proxies, comma-separated: the right-most entry not among them.
// - true: the left-most entry, which a client can write itself: only behind a proxy that
//   replaces the header.

export const TRUST_PROXY_PATTERN = '^\\s*(true|false|yes|no|on|off|[0-9]{1,2}|[0-9a-fA-F:.,/ ]+)\\s*$'

/** The setting as Fastify's trustProxy (a hop count as proxy-addr's hop function). */
export function trustProxyOption (raw: string | boolean): boolean | string | ((address: string, hop: number) => boolean) {
  const parsed = typeof raw === 'boolean' ? raw : parseTrustProxy(raw)
  if (typeof parsed !== 'number') return parsed
  // proxy-addr asks hop 0 (the socket's peer) first, then each X-Forwarded-For entry from the right.
  return (_address, hop) => hop < parsed
}

/** The setting's meaning. Throws with a sentence on a value it cannot mean. */
export function parseTrustProxy (raw: string): boolean | number | string {
  const v = raw.trim().toLowerCase()
  if (/^(false|no|off|0)$/.test(v)) return false
  if (/^(true|yes|on)$/.test(v)) return true
  if (/^[0-9]{1,2}$/.test(v)) {
    const hops = Number(v)
    if (hops > 10) throw new Error(`FEDERATE_TRUST_PROXY: a hop count is 1 to 10, got ${hops}`)
    return hops
  }
  const entries = v.split(',').map((e) => e.trim()).filter(Boolean)
  for (const e of entries) {
    const [addr, bits, extra] = e.split('/')
    const family = isIP(addr ?? '')
    const okBits = bits === undefined || (/^[0-9]{1,3}$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32))
    if (family === 0 || !okBits || extra !== undefined) throw new Error(`FEDERATE_TRUST_PROXY: ${JSON.stringify(e)} is not an IP address or CIDR range`)
  }
  if (entries.length === 0) throw new Error('FEDERATE_TRUST_PROXY: give true, false, a hop count or your proxies\' addresses')
  return entries.join(',')
}
