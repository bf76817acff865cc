// A small seeded PRNG (mulberry32) with the draws the callee models need. The sim never
// calls Math.random: the same seed gives the same calls, so tests and benchmarks repeat.

export interface Rng {
  /** A float in [0, 1). */
  next: () => number
  /** An integer in [min, max]. */
  int: (min: number, max: number) => number
  /** True with probability p. */
  chance: (p: number) => boolean
  /** An exponential draw with the given mean (Poisson inter-arrival times). */
  exp: (mean: number) => number
  /** A log-normal draw with the given median and spread (sigma of the underlying normal). */
  logNormal: (median: number, sigma: number) => number
  /** A key of `weights`, chosen in proportion to its weight; undefined when all are zero. */
  pick: <K extends string>(weights: Partial<Record<K, number>>) => K | undefined
  /** A new independent stream derived from this one (per instance, per call). */
  fork: (salt?: number) => Rng
}

/** Mixes a string into a 32-bit seed (FNV-1a), so seeds can be names as well as numbers. */
export function seedOf (seed: number | string): number {
  if (typeof seed === 'number') return seed >>> 0
  let h = 0x811c9dc5
  for (let i = 0; i < seed.length; i++) {
    h ^= seed.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** A seeded generator; same seed, same sequence. */
export function createRng (seed: number | string): Rng {
  let a = seedOf(seed)
  const next = (): number => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  let spare: number | undefined
  const normal = (): number => {
    if (spare !== undefined) {
      const s = spare
      spare = undefined
      return s
    }
    // Box-Muller; 1 - next() keeps the log argument away from zero.
    const u = 1 - next()
    const v = next()
    const r = Math.sqrt(-2 * Math.log(u))
    spare = r * Math.sin(2 * Math.PI * v)
    return r * Math.cos(2 * Math.PI * v)
  }
  const rng: Rng = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => p > 0 && next() < p,
    exp: (mean) => -Math.log(1 - next()) * mean,
    logNormal: (median, sigma) => median * Math.exp(sigma * normal()),
    pick: <K extends string>(weights: Partial<Record<K, number>>): K | undefined => {
      let total = 0
      for (const k in weights) total += Math.max(0, weights[k] ?? 0)
      if (total <= 0) return undefined
      let x = next() * total
      let last: K | undefined
      for (const k in weights) {
        const w = Math.max(0, weights[k] ?? 0)
        if (w === 0) continue
        last = k
        if (x < w) return k
        x -= w
      }
      return last
    },
    fork: (salt = 0) => createRng((Math.floor(next() * 4294967296) ^ Math.imul(salt + 1, 0x9e3779b1)) >>> 0),
  }
  return rng
}
