import { ScalerError } from './errors.ts'

// What the fleet cost, against what a fixed fleet sized for the peak would have cost over the same
// period. Pure: the controller reads instance lifetimes, call seconds and the scaling history.

export interface InstanceSpan {
  id: string
  instanceType: string | null
  /** Launch (ms since the epoch). */
  start: number
  /** Termination (ms); null: still running (counted up to `to`). */
  end: number | null
}

export interface CallSeconds {
  /** null: calls that belong to no campaign (inbound). */
  campaignId: string | null
  /** UTC day, YYYY-MM-DD. */
  day: string
  seconds: number
}

export interface CostInput {
  from: number
  to: number
  instances: readonly InstanceSpan[]
  /** Call-seconds per campaign and day: the fleet's time of a day is shared in proportion. */
  callSeconds?: readonly CallSeconds[]
  /** Price per hour per instance type; `default` for instances of unknown or unlisted type. */
  pricePerHour: Readonly<Record<string, number>>
  /** Peak fleet from the scaling history (highest desired); default: the most instances alive at once. */
  peakInstances?: number
}

export interface CostLine { instanceSeconds: number, cost: number }

export interface CostReport {
  from: string
  to: string
  instanceSeconds: number
  cost: number
  byDay: Array<{ day: string, instanceSeconds: number, cost: number }>
  /** Fleet time shared by call-seconds; `campaignId: null` is the share of calls without a campaign. */
  byCampaign: Array<{ campaignId: string | null, callSeconds: number, instanceSeconds: number, cost: number }>
  /** Fleet time on days without any call (minimum fleet, warm-up). */
  idle: CostLine
  /** A fleet of the peak size, up for the whole period. */
  fixed: CostLine & { instances: number }
  /** fixed - dynamic (positive: the autoscaler saved money). */
  savings: { cost: number, percent: number }
  /** Instance types without a price (counted at 0). */
  unpriced: string[]
}

const DAY_MS = 86_400_000
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10)
const round = (n: number, digits = 4) => Math.round(n * 10 ** digits) / 10 ** digits

/** Cost of the dynamic fleet by day and campaign, next to a fixed fleet sized for the peak. */
export function computeCost (input: CostInput): CostReport {
  const { from, to } = input
  if (!(Number.isFinite(from) && Number.isFinite(to) && to > from)) throw new ScalerError('FED_SCALER_INVALID_INPUT', 'the period needs from < to')
  const unpriced = new Set<string>()
  const priceOf = (type: string | null): number => {
    const p = (type !== null ? input.pricePerHour[type] : undefined) ?? input.pricePerHour.default
    if (p === undefined) { unpriced.add(type ?? '(unknown)'); return 0 }
    return p
  }

  const days = new Map<string, CostLine>()
  const events: Array<[number, number]> = []
  for (const i of input.instances) {
    const start = Math.max(from, i.start)
    const end = Math.min(to, i.end ?? to)
    if (end <= start) continue
    events.push([start, 1], [end, -1])
    const price = priceOf(i.instanceType)
    // Split at UTC midnights.
    for (let a = start; a < end;) {
      const b = Math.min(end, (Math.floor(a / DAY_MS) + 1) * DAY_MS)
      const line = days.get(dayOf(a)) ?? { instanceSeconds: 0, cost: 0 }
      line.instanceSeconds += (b - a) / 1000
      line.cost += (b - a) / 3_600_000 * price
      days.set(dayOf(a), line)
      a = b
    }
  }
  // The most instances alive at once (ends before starts at the same instant).
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1])
  let alive = 0
  let peakAlive = 0
  for (const [, d] of events) { alive += d; peakAlive = Math.max(peakAlive, alive) }

  const byCampaign = new Map<string | null, { callSeconds: number, instanceSeconds: number, cost: number }>()
  const idle: CostLine = { instanceSeconds: 0, cost: 0 }
  const callsByDay = new Map<string, CallSeconds[]>()
  for (const c of input.callSeconds ?? []) {
    if (!(c.seconds > 0)) continue
    const list = callsByDay.get(c.day)
    if (list) list.push(c)
    else callsByDay.set(c.day, [c])
  }
  for (const [day, line] of days) {
    const calls = callsByDay.get(day) ?? []
    const total = calls.reduce((s, c) => s + c.seconds, 0)
    if (total === 0) { idle.instanceSeconds += line.instanceSeconds; idle.cost += line.cost; continue }
    for (const c of calls) {
      const e = byCampaign.get(c.campaignId) ?? { callSeconds: 0, instanceSeconds: 0, cost: 0 }
      e.callSeconds += c.seconds
      e.instanceSeconds += line.instanceSeconds * c.seconds / total
      e.cost += line.cost * c.seconds / total
      byCampaign.set(c.campaignId, e)
    }
  }

  const instanceSeconds = [...days.values()].reduce((s, l) => s + l.instanceSeconds, 0)
  const cost = [...days.values()].reduce((s, l) => s + l.cost, 0)
  const peak = input.peakInstances ?? peakAlive
  // The fixed fleet runs the most common instance type (or the default price).
  const types = new Map<string | null, number>()
  for (const i of input.instances) types.set(i.instanceType, (types.get(i.instanceType) ?? 0) + 1)
  const mainType = [...types.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null
  const fixedSeconds = peak * (to - from) / 1000
  const fixedCost = fixedSeconds / 3600 * priceOf(mainType)
  return {
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    instanceSeconds: round(instanceSeconds, 1),
    cost: round(cost),
    byDay: [...days.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([day, l]) => ({ day, instanceSeconds: round(l.instanceSeconds, 1), cost: round(l.cost) })),
    byCampaign: [...byCampaign.entries()]
      .sort((a, b) => b[1].instanceSeconds - a[1].instanceSeconds)
      .map(([campaignId, e]) => ({ campaignId, callSeconds: round(e.callSeconds, 1), instanceSeconds: round(e.instanceSeconds, 1), cost: round(e.cost) })),
    idle: { instanceSeconds: round(idle.instanceSeconds, 1), cost: round(idle.cost) },
    fixed: { instances: peak, instanceSeconds: round(fixedSeconds, 1), cost: round(fixedCost) },
    savings: { cost: round(fixedCost - cost), percent: fixedCost > 0 ? round((fixedCost - cost) / fixedCost * 100, 1) : 0 },
    unpriced: [...unpriced].sort(),
  }
}
