import type { Redis } from 'ioredis'

// Where campaign calls go. Left to whoever asks first, every instance with a free channel takes a
// share of each second's calls, so each instance ends up with calls from the whole campaign and
// holds some until ~one hold time after the last dial: the fleet cannot shrink while a campaign
// winds down. Here instances fill one at a time, in cohorts: an instance handed calls begins a
// cohort, and while the cohort lasts (a few seconds: twice the time the campaigns' rate takes to
// fill it) it is filling, ranked first, the one with the least room left first (best fit: finish
// it before starting another). Its calls then began within a few seconds of each other and end
// together, so instances empty one by one and are drained as they do.
//
// When none is filling, the one with the most free channels goes first: a new instance (never
// handed calls: however new, it waits its turn among these; ranking new instances first had every
// launch interrupt the one filling), or one whose calls have ended. While a campaign winds down
// (see `tight`), the few channels freed on an instance after its cohort (unanswered calls, early
// hang-ups: at most `gapMax`) are not offered at all: a call there holds that instance up to a
// whole call longer, which is what kept a fleet up long after its campaign's last calls. The
// controller counts those gaps as busy meanwhile (they are "stranded"), so fresh instances come
// instead. Before that, in a long campaign, every channel is fair game: the instances are needed
// anyway.
//
// Each dialer.next reports the instance's free channels to a Redis hash shared by every app
// server; an instance is served only when the instances ranked above it have, between them, less
// fresh room (reported within `freshMs`: two pull intervals, so one that stopped asking, full,
// drained or dead, stops counting by itself) than the calls one pull interval brings. Strictly one
// instance at a time starved the dialer when a campaign's first calls ended: room then appears a
// channel or two at a time, and the rate limiter's window passed while they were filled one by one.

export interface Room {
  instanceId: string
  /** When it was last handed calls (ms; 0: never). */
  since: number
  /** When its current cohort began: the first lease after the last cohort ended (ms; 0: never). */
  start: number
  /** Free channels it reported, less what it was handed. */
  free: number
  /** When it reported (ms). */
  at: number
}

export interface PlacementRules {
  /** A cohort lasts this long from its first lease (ms). */
  cohortMs: number
  /** A lease this long ago or more ends filling, whatever the cohort (ms; default 5,000). */
  recentMs?: number
  /** Free channels up to this many, on an instance past its cohort, are gaps. */
  gapMax?: number
  /** A campaign winds down: gaps are not offered. */
  tight?: boolean
}

/** Filling now: in its cohort, and handed calls lately. */
export function filling (r: Room, now: number, rules: PlacementRules): boolean {
  return r.since > 0 && now - r.since <= (rules.recentMs ?? 5000) && now - r.start <= rules.cohortMs
}

/** Whether its free channels are offered: any, except the gaps of a past cohort while a campaign winds down. */
export function offered (r: Room, now: number, rules: PlacementRules): boolean {
  if (r.free <= 0) return false
  return !rules.tight || r.since === 0 || filling(r, now, rules) || r.free > (rules.gapMax ?? 0)
}

/**
 * The placement order: first the instances filling now, the least room left first; then the
 * others (never handed calls included) by most free channels. Ties by id, so every app server
 * orders the same way.
 */
export function rankedAbove (a: Room, b: Room, now: number, rules: PlacementRules): boolean {
  const fa = filling(a, now, rules)
  const fb = filling(b, now, rules)
  if (fa !== fb) return fa
  if (a.free !== b.free) return fa ? a.free < b.free : a.free > b.free
  return a.instanceId > b.instanceId
}

/**
 * Whether `me` may be handed calls now: its room is offered, and the instances ranked above it
 * have less fresh offered room between them than `batch`, the calls one pull interval brings. Pure.
 */
export function mayPlace (me: Room, rooms: readonly Room[], now: number, freshMs: number, batch: number, rules: PlacementRules): boolean {
  if (!offered(me, now, rules)) return false
  let above = 0
  for (const r of rooms) {
    if (r.instanceId === me.instanceId || now - r.at > freshMs || !offered(r, now, rules)) continue
    if (rankedAbove(r, me, now, rules)) above += r.free
  }
  return above < Math.max(1, batch)
}

// Entries are since:free:at:start (ms). Keeps when it was last handed calls and when its cohort
// began (a new instance: never, 0), writes this report and returns the whole board: one round trip.
const REPORT = `
local prev = redis.call('HGET', KEYS[1], ARGV[1])
local since, start = '0', '0'
if prev then
  since = string.match(prev, '^(%d+):') or '0'
  start = string.match(prev, '^%d+:%d+:%d+:(%d+)$') or since
end
redis.call('HSET', KEYS[1], ARGV[1], since .. ':' .. ARGV[2] .. ':' .. ARGV[3] .. ':' .. start)
return redis.call('HGETALL', KEYS[1])`

// After a lease: handed calls now, what is left, and its cohort: the one under way if it began
// within the cohort time (ARGV[4]), else a new one from now.
const UPDATE = `
local prev = redis.call('HGET', KEYS[1], ARGV[1])
local start = ARGV[3]
if prev then
  local began = tonumber(string.match(prev, '^%d+:%d+:%d+:(%d+)$') or '0')
  if began > 0 and tonumber(ARGV[3]) - began <= tonumber(ARGV[4]) then start = tostring(began) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3] .. ':' .. ARGV[2] .. ':' .. ARGV[3] .. ':' .. start)
return 1`

export interface Placement {
  /** Reports `free` for the instance; true if it may be handed calls now (`batch`: see mayPlace). */
  report: (instanceId: string, free: number, now: number, batch: number, rules: PlacementRules) => Promise<boolean>
  /** After a lease that handed calls: records when, what is left, and the cohort it belongs to. */
  left: (instanceId: string, free: number, now: number, cohortMs: number) => Promise<void>
}

export interface PlacementOptions {
  redis: Redis
  key: string
  /**
   * A report older than this does not count (default 600 ms: two agent pulls, 300 ms apart, plus
   * their latency). While the instance ranked first has room, the others wait; if it does not ask
   * again soon (a slow or busy instance) they must not wait long: a second in which nobody may
   * lease is lost to the campaign's rate limiter.
   */
  freshMs?: number
  /** Entries silent this long are removed (default 10 minutes). */
  forgetMs?: number
}

export function createPlacement (opts: PlacementOptions): Placement {
  const freshMs = opts.freshMs ?? 600
  const forgetMs = opts.forgetMs ?? 600_000
  let lastSweep = 0
  return {
    async report (instanceId, free, now, batch, rules) {
      const flat = await opts.redis.eval(REPORT, 1, opts.key, instanceId, String(Math.max(0, Math.floor(free))), String(now)) as string[]
      const rooms: Room[] = []
      const stale: string[] = []
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const [since, left, at, start] = flat[i + 1]!.split(':').map(Number)
        if (!Number.isFinite(since) || !Number.isFinite(left) || !Number.isFinite(at)) continue
        if (now - at! > forgetMs) stale.push(flat[i]!)
        rooms.push({ instanceId: flat[i]!, since: since!, free: left!, at: at!, start: Number.isFinite(start) ? start! : since! })
      }
      if (stale.length > 0 && now - lastSweep > 10_000) {
        lastSweep = now
        await opts.redis.hdel(opts.key, ...stale)
      }
      const me = rooms.find((r) => r.instanceId === instanceId)
      return me === undefined || mayPlace(me, rooms, now, freshMs, batch, rules)
    },
    async left (instanceId, free, now, cohortMs) {
      await opts.redis.eval(UPDATE, 1, opts.key, instanceId, String(Math.max(0, Math.floor(free))), String(now), String(Math.round(cohortMs)))
    },
  }
}
