import { Readable } from 'node:stream'

// Demo contacts spread across time zones: North American numbers from area codes in every US
// zone (the dialer derives each contact's zone from its number), plus a few other countries.
const AREAS: Array<{ prefix: string, weight: number }> = [
  { prefix: '+1212', weight: 14 }, // New York, Eastern
  { prefix: '+1617', weight: 6 }, // Boston
  { prefix: '+1305', weight: 6 }, // Miami
  { prefix: '+1312', weight: 10 }, // Chicago, Central
  { prefix: '+1214', weight: 8 }, // Dallas
  { prefix: '+1303', weight: 6 }, // Denver, Mountain
  { prefix: '+1602', weight: 4 }, // Phoenix (no DST)
  { prefix: '+1213', weight: 12 }, // Los Angeles, Pacific
  { prefix: '+1206', weight: 6 }, // Seattle
  { prefix: '+1907', weight: 2 }, // Alaska
  { prefix: '+1808', weight: 2 }, // Hawaii
  { prefix: '+1416', weight: 6 }, // Toronto
  { prefix: '+1604', weight: 4 }, // Vancouver
]
const TOTAL = AREAS.reduce((s, a) => s + a.weight, 0)

/** mulberry32: a small seeded PRNG, so the same seed gives the same contact list. */
function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A CSV stream of `count` distinct contacts (phone, name, district), generated row by row. */
export function demoContactsCsv (count: number, seed = 1): Readable {
  const random = rng(seed)
  const seen = new Set<string>()
  let made = 0
  function pick (): string {
    let r = random() * TOTAL
    const area = AREAS.find((a) => (r -= a.weight) < 0) ?? AREAS[0]!
    // Exchange 200-999 (never N11), line 0000-9999: a valid North American number.
    let exchange = 200 + Math.floor(random() * 800)
    if (exchange % 100 === 11) exchange += 1
    return `${area.prefix}${exchange}${String(Math.floor(random() * 10000)).padStart(4, '0')}`
  }
  return Readable.from((function * () {
    yield 'phone,name,district\n'
    while (made < count) {
      const phone = pick()
      if (seen.has(phone)) continue
      seen.add(phone)
      made++
      yield `${phone},Voter ${made},D${1 + (made % 12)}\n`
    }
  })())
}
