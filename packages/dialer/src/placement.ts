import type { Redis } from 'ioredis'

// Where campaign calls go. Left to whoever asks first, every instance with a free channel takes a
// share of each second's calls, so each instance ends up with calls from the whole campaign and
// holds some until ~one hold time after the last dial: the fleet cannot shrink while a campaign
// winds down. Here one instance fills at a time, the one handed calls most recently (a new
// instance counts from its first request), so each holds calls placed within a few seconds of
// each other, which also end together: instances empty one by one and are drained as they do.
// When none is filling, the one with the most free channels goes first: late calls recycle one
// nearly empty instance instead of a few channels on each of many half-full ones. Spare channels
// gather on the instances not handed calls for longest, which scale-in drains first.
//
// Each dialer.next reports the instance's free channels to a Redis hash shared by every app
// server (instance -> last handed calls, free, when); an instance is served only when the
// instances ranked above it have, between them, less fresh room (reported within `freshMs`: two
// pull intervals, so one that stopped asking, full, drained or dead, stops counting by itself)
// than the calls one pull interval brings. Strictly one instance at a time starved the dialer
// when a campaign's first calls ended: room then appears a channel or two at a time on every
// instance, and the rate limiter's window passed while they were filled one by one.

export interface Room {
  instanceId: string
  /** When it was last handed calls, or first asked if never (ms): its rank for placement. */
  since: number
  /** Free channels it reported, less what it was handed. */
  free: number
  /** When it reported (ms). */
  at: number
}

/**
 * The placement order: first the instances handed calls within `recentMs` (filling now), the most
 * recent first; then the others by most free channels, so a winding-down campaign's late calls
 * recycle one nearly empty instance rather than a few channels on each of many half-full ones.
 * Ties by id, so every app server orders the same way.
 */
export function rankedAbove (a: Room, b: Room, now: number, recentMs: number): boolean {
  const ra = now - a.since <= recentMs
  const rb = now - b.since <= recentMs
  if (ra !== rb) return ra
  if (ra && a.since !== b.since) return a.since > b.since
  if (!ra && a.free !== b.free) return a.free > b.free
  return a.instanceId > b.instanceId
}

/**
 * Whether `me` may be handed calls now: the instances ranked above it have less fresh room
 * between them than `batch`, the calls one pull interval brings. Pure.
 */
export function mayPlace (me: Room, rooms: readonly Room[], now: number, freshMs: number, batch = 1, recentMs = 5000): boolean {
  let above = 0
  for (const r of rooms) {
    if (r.instanceId === me.instanceId || r.free <= 0 || now - r.at > freshMs) continue
    if (rankedAbove(r, me, now, recentMs)) above += r.free
  }
  return above < Math.max(1, batch)
}

// Keeps the rank (a new instance: now), writes this report and returns the whole board: one round trip.
const REPORT = `
local prev = redis.call('HGET', KEYS[1], ARGV[1])
local since = ARGV[3]
if prev then since = string.match(prev, '^(%d+):') or ARGV[3] end
redis.call('HSET', KEYS[1], ARGV[1], since .. ':' .. ARGV[2] .. ':' .. ARGV[3])
return redis.call('HGETALL', KEYS[1])`

// After a lease: handed calls now (its rank) and what is left.
const UPDATE = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3] .. ':' .. ARGV[2] .. ':' .. ARGV[3])
return 1`

export interface Placement {
  /** Reports `free` for the instance; true if it may be handed calls now (`batch`: see mayPlace). */
  report: (instanceId: string, free: number, now: number, batch?: number) => Promise<boolean>
  /** After a lease that handed calls: ranks the instance first and records what is left. */
  left: (instanceId: string, free: number, now: number) => Promise<void>
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
    async report (instanceId, free, now, batch = 1) {
      const flat = await opts.redis.eval(REPORT, 1, opts.key, instanceId, String(Math.max(0, Math.floor(free))), String(now)) as string[]
      const rooms: Room[] = []
      const stale: string[] = []
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const [since, left, at] = flat[i + 1]!.split(':').map(Number)
        if (!Number.isFinite(since) || !Number.isFinite(left) || !Number.isFinite(at)) continue
        if (now - at! > forgetMs) stale.push(flat[i]!)
        rooms.push({ instanceId: flat[i]!, since: since!, free: left!, at: at! })
      }
      if (stale.length > 0 && now - lastSweep > 10_000) {
        lastSweep = now
        await opts.redis.hdel(opts.key, ...stale)
      }
      const me = rooms.find((r) => r.instanceId === instanceId)
      return me === undefined || mayPlace(me, rooms, now, freshMs, batch)
    },
    async left (instanceId, free, now) {
      await opts.redis.eval(UPDATE, 1, opts.key, instanceId, String(Math.max(0, Math.floor(free))), String(now))
    },
  }
}
