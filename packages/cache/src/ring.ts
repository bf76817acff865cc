import { createHash } from 'node:crypto'

/**
 * A ketama-style consistent-hash ring: each server owns `pointsPerServer` points on a 32-bit
 * circle (four per MD5 digest of `server-i`, as libketama does), and a key belongs to the
 * first point at or after its own hash. Adding or removing one server of N moves only about
 * 1/N of the keys, where memjs's default (hash modulo N) moves almost all of them.
 */
export class HashRing {
  readonly servers: readonly string[]
  private readonly points: Uint32Array
  private readonly owners: string[]

  constructor (servers: readonly string[], { pointsPerServer = 160 }: { pointsPerServer?: number } = {}) {
    if (servers.length === 0) throw new Error('a hash ring needs at least one server')
    this.servers = [...new Set(servers)]
    const all: Array<[number, string]> = []
    for (const server of this.servers) {
      for (let i = 0; i < Math.ceil(pointsPerServer / 4); i++) {
        const d = createHash('md5').update(`${server}-${i}`).digest()
        for (let j = 0; j < 4; j++) all.push([d.readUInt32LE(j * 4), server])
      }
    }
    all.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1))
    this.points = Uint32Array.from(all, (p) => p[0])
    this.owners = all.map((p) => p[1])
  }

  /** The server that owns `key`. */
  get (key: string): string {
    if (this.servers.length === 1) return this.servers[0] as string
    const h = createHash('md5').update(key).digest().readUInt32LE(0)
    // First point >= h (binary search); past the last point wraps to the first.
    let lo = 0
    let hi = this.points.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((this.points[mid] as number) < h) lo = mid + 1
      else hi = mid
    }
    return this.owners[lo === this.points.length ? 0 : lo] as string
  }
}
