// Web hooks go to operators' own services. The pure half of the server-side request forgery
// guard: scheme, credentials, host allow-list, and literal addresses. The server also resolves
// the host and checks every resolved address with isBlockedAddress (DNS is I/O, not here).

export type UrlCheck = { ok: true, url: URL } | { ok: false, reason: string }

const BLOCKED_NAMES = /^(localhost|.*\.localhost|metadata|metadata\.google\.internal|instance-data(\..*)?)$/

function parseV4 (ip: string): number[] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip)
  if (!m) return undefined
  const parts = m.slice(1).map(Number)
  return parts.every((n) => n <= 255) ? parts : undefined
}

// Eight 16-bit groups, or undefined when this is not an IPv6 address.
function parseV6 (ip: string): number[] | undefined {
  if (!ip.includes(':')) return undefined
  let text = ip
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (v4) {
    const q = parseV4(v4[1]!)
    if (!q) return undefined
    text = `${text.slice(0, v4.index)}${((q[0]! << 8) | q[1]!).toString(16)}:${((q[2]! << 8) | q[3]!).toString(16)}`
  }
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const group = (h: string) => h === '' ? [] : h.split(':').map((g) => /^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)
  const head = group(halves[0]!)
  const rest = halves.length === 2 ? group(halves[1]!) : []
  const missing = 8 - head.length - rest.length
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...rest]
  return groups.every((g) => Number.isInteger(g)) ? groups : undefined
}

const isV4Blocked = ([a, b, c, d]: number[]) =>
  a === 127 || a === 0 || (a === 169 && b === 254) || (a === 100 && b === 100 && c === 100 && d === 200) || (a === 255 && b === 255 && c === 255 && d === 255)

/**
 * True for an address no web hook should reach unless explicitly allowed: loopback, link-local
 * (which holds the cloud metadata services, 169.254.169.254), unspecified and broadcast, and the
 * IPv6 forms of these (IPv4-mapped and -compatible, NAT64, AWS's fd00:ec2::254).
 */
export function isBlockedAddress (address: string): boolean {
  const ip = address.trim().toLowerCase().replace(/^\[|\]$/g, '').replace(/%.*$/, '')
  const q = parseV4(ip)
  if (q) return isV4Blocked(q)
  const g = parseV6(ip)
  if (!g) return false
  const v4 = [g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255]
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0)
  if (zeros(8) || (zeros(7) && g[7] === 1)) return true // :: and ::1
  if ((g[0]! & 0xffc0) === 0xfe80) return true // fe80::/10
  if (g[0] === 0xfd00 && g[1] === 0x0ec2) return true // AWS metadata over IPv6
  if (zeros(5) && g[5] === 0xffff) return isV4Blocked(v4) // ::ffff:a.b.c.d
  if (zeros(6)) return isV4Blocked(v4) // ::a.b.c.d (deprecated)
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return isV4Blocked(v4) // NAT64
  return false
}

// `*.example.com` matches sub-domains of example.com (not example.com itself), `*` any public host,
// anything else the exact host; an entry with `:port` also pins the port.
function matches (entry: string, host: string, port: string): boolean {
  let pattern = entry.trim().toLowerCase().replace(/\.$/, '')
  const portAt = pattern.lastIndexOf(':')
  if (portAt > 0 && !pattern.includes(']') && pattern.indexOf(':') === portAt) {
    if (pattern.slice(portAt + 1) !== port) return false
    pattern = pattern.slice(0, portAt)
  } else if (pattern.startsWith('[') && pattern.includes(']:')) {
    if (pattern.slice(pattern.indexOf(']:') + 2) !== port) return false
    pattern = pattern.slice(0, pattern.indexOf(']:') + 1)
  }
  pattern = pattern.replace(/^\[|\]$/g, '')
  if (pattern === '*') return true
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1
  return host === pattern
}

/** Checks a web hook URL against an allow-list of host patterns; says why when it refuses. */
export function checkUrl (url: string, allowList: readonly string[]): UrlCheck {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return { ok: false, reason: 'not a valid URL' }
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return { ok: false, reason: `scheme ${parsed.protocol} is not http or https` }
  if (parsed.username !== '' || parsed.password !== '') return { ok: false, reason: 'credentials in the URL are not allowed' }
  // The WHATWG parser already turned 2130706433, 0x7f.1 and the like into dotted quads.
  const host = parsed.hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '')
  const port = parsed.port || (parsed.protocol === 'https:' ? '443' : '80')
  const allowed = allowList.filter((e) => matches(e, host, port))
  if (allowed.length === 0) return { ok: false, reason: `host ${host} is not in the allow-list` }
  const internal = isBlockedAddress(host) || BLOCKED_NAMES.test(host)
  // Only an exact entry (not a wildcard) opens an internal address: tests and local demos.
  if (internal && !allowed.some((e) => !e.includes('*'))) return { ok: false, reason: `host ${host} is a loopback, link-local or metadata address` }
  return { ok: true, url: parsed }
}

/** True when the URL may be requested: http(s), no credentials, host allowed, not internal unless listed exactly. */
export function isAllowedUrl (url: string, allowList: readonly string[]): boolean {
  return checkUrl(url, allowList).ok
}
