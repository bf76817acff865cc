import { DialerError } from './errors.ts'

/** Local calling hours, `HH:MM` 24-hour; `end` before `start` means the window spans midnight. */
export interface CallingWindow {
  start: string
  end: string
  /** Days of the week the window opens on (0 = Sunday … 6 = Saturday, local time); all if omitted. */
  days?: number[]
}

export interface WindowState {
  open: boolean
  /** When open: now. When closed: the next instant the window opens (null if it never does). */
  nextOpenAt: Date | null
  /** When open: the instant the current window closes. */
  closesAt: Date | null
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$|^24:00$/
const formatters = new Map<string, Intl.DateTimeFormat>()

/** True when `tz` is an IANA time zone this runtime knows. */
export function isValidTimeZone (tz: unknown): boolean {
  if (typeof tz !== 'string' || tz.length === 0 || tz.length > 64) return false
  try {
    formatter(tz as string)
    return true
  } catch {
    return false
  }
}

/** Minutes after midnight of `HH:MM`; throws FED_DIALER_INVALID_INPUT otherwise. */
export function parseClock (hhmm: string): number {
  if (typeof hhmm !== 'string' || !HHMM.test(hhmm)) {
    throw new DialerError('FED_DIALER_INVALID_INPUT', `a time of day must be HH:MM (got ${JSON.stringify(hhmm)})`)
  }
  const [h, m] = hhmm.split(':').map(Number) as [number, number]
  return h * 60 + m
}

/** Validates a window (times, days) and returns it; throws FED_DIALER_INVALID_INPUT otherwise. */
export function checkWindow (window: CallingWindow): CallingWindow {
  const start = parseClock(window.start)
  const end = parseClock(window.end)
  if (start === end) throw new DialerError('FED_DIALER_INVALID_INPUT', 'the calling window is empty (start equals end)')
  if (window.days !== undefined) {
    if (!Array.isArray(window.days) || window.days.length === 0 ||
      !window.days.every((d) => Number.isInteger(d) && d >= 0 && d <= 6)) {
      throw new DialerError('FED_DIALER_INVALID_INPUT', 'window days must be a non-empty list of 0 (Sunday) to 6 (Saturday)')
    }
  }
  return window
}

/**
 * Whether the calling window is open at `now` in `timeZone`, and when it next opens.
 * Local wall times are converted to instants through Intl, so DST changes are honoured: a
 * wall time inside a spring-forward gap is moved forward by the gap's length (as Temporal's
 * `compatible` disambiguation does), and a repeated one takes its first occurrence.
 */
export function windowState (now: Date, timeZone: string, window: CallingWindow): WindowState {
  const start = parseClock(window.start)
  const end = parseClock(window.end)
  const days = window.days ? new Set(window.days) : null
  const today = localParts(now.getTime(), timeZone)
  let next: number | null = null
  // Yesterday's window may span midnight into today; a week ahead covers any day filter.
  for (let offset = -1; offset <= 8; offset++) {
    const day = addDays(today, offset)
    if (days && !days.has(day.weekday)) continue
    const opensAt = toInstant(day, start, timeZone)
    const closesAt = toInstant(end > start ? day : addDays(day, 1), end, timeZone)
    if (now.getTime() >= opensAt && now.getTime() < closesAt) {
      return { open: true, nextOpenAt: now, closesAt: new Date(closesAt) }
    }
    if (opensAt > now.getTime() && (next === null || opensAt < next)) next = opensAt
  }
  return { open: false, nextOpenAt: next === null ? null : new Date(next), closesAt: null }
}

interface LocalDay { year: number, month: number, day: number, weekday: number }

function formatter (timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    })
    formatters.set(timeZone, f)
  }
  return f
}

// Wall-clock fields of an instant in a zone.
function wallClock (ms: number, timeZone: string) {
  const out: Record<string, number> = {}
  for (const p of formatter(timeZone).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') out[p.type] = Number(p.value)
  }
  return out as { year: number, month: number, day: number, hour: number, minute: number, second: number }
}

function localParts (ms: number, timeZone: string): LocalDay {
  const w = wallClock(ms, timeZone)
  return { year: w.year, month: w.month, day: w.day, weekday: new Date(Date.UTC(w.year, w.month - 1, w.day)).getUTCDay() }
}

function addDays (d: LocalDay, n: number): LocalDay {
  const t = new Date(Date.UTC(d.year, d.month - 1, d.day + n))
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate(), weekday: t.getUTCDay() }
}

// The zone's offset from UTC at an instant, in ms.
function offsetAt (ms: number, timeZone: string): number {
  const w = wallClock(ms, timeZone)
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second)
  return asUtc - Math.floor(ms / 1000) * 1000
}

/**
 * The instant at which the wall clock in `timeZone` reads `minutes` after midnight of `day`.
 * A wall time inside a spring-forward gap moves forward by the gap's length; one repeated by a
 * fall-back maps to its first occurrence.
 */
function toInstant (day: LocalDay, minutes: number, timeZone: string): number {
  const wall = Date.UTC(day.year, day.month - 1, day.day, 0, minutes)
  // Try both offsets around the wall time; keep the earliest that reads back exactly.
  const candidates = new Set([offsetAt(wall - 86_400_000, timeZone), offsetAt(wall, timeZone), offsetAt(wall + 86_400_000, timeZone)])
  let best: number | null = null
  for (const off of candidates) {
    const instant = wall - off
    if (offsetAt(instant, timeZone) === off && (best === null || instant < best)) best = instant
  }
  if (best !== null) return best
  // In a gap no offset reads back: the wall time does not exist. The offset in force before
  // the gap gives the wall time shifted forward by the gap's length.
  const before = offsetAt(wall - 86_400_000, timeZone)
  return wall - before
}
