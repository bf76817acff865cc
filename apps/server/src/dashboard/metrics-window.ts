import type { Registry } from 'prom-client'

/** Counter and histogram totals read from the process's registry at one moment. */
export interface MetricTotals {
  at: number
  cache: { hits: number, misses: number, failOpen: number, errors: number }
  /** call.step latency: cumulative count per bucket upper bound (seconds, Infinity last). */
  stepBuckets: Array<[number, number]>
  steps: number
}

/** What the dashboard shows: rates and quantiles over the window, not since the process started. */
export interface MetricSummary {
  /** Seconds covered; null when there is only one reading (then the numbers are since start). */
  windowSec: number | null
  cache: { hits: number, misses: number, failOpen: number, errors: number, hitRatio: number | null }
  steps: { count: number, perSec: number | null, p50Ms: number | null, p99Ms: number | null }
}

const STEP_METHOD = 'call.step'

async function counterTotal (registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name)
  if (metric === undefined) return 0
  const { values } = await metric.get()
  return values.reduce((s, v) => s + v.value, 0)
}

/** Reads the cache counters and the call.step latency histogram (every outcome) from `registry`. */
export async function readMetricTotals (registry: Registry, at = Date.now()): Promise<MetricTotals> {
  const [hits, misses, failOpen, errors] = await Promise.all([
    counterTotal(registry, 'federate_cache_hits_total'),
    counterTotal(registry, 'federate_cache_misses_total'),
    counterTotal(registry, 'federate_cache_fail_open_total'),
    counterTotal(registry, 'federate_cache_errors_total'),
  ])
  const byLe = new Map<number, number>()
  let steps = 0
  const histogram = registry.getSingleMetric('federate_rpc_duration_seconds')
  if (histogram !== undefined) {
    for (const v of (await histogram.get()).values) {
      if (v.labels.method !== STEP_METHOD) continue
      const name = (v as { metricName?: string }).metricName ?? ''
      if (name.endsWith('_bucket')) {
        const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le)
        byLe.set(le, (byLe.get(le) ?? 0) + v.value)
      } else if (name.endsWith('_count')) {
        steps += v.value
      }
    }
  }
  const stepBuckets = [...byLe].sort((a, b) => a[0] - b[0])
  return { at, cache: { hits, misses, failOpen, errors }, stepBuckets, steps }
}

/**
 * The q-quantile of a histogram from cumulative bucket counts, interpolating linearly inside the
 * bucket like Prometheus' histogram_quantile; the highest finite bound when it falls in +Inf.
 */
export function histogramQuantile (q: number, buckets: Array<[number, number]>): number | null {
  const total = buckets.at(-1)?.[1] ?? 0
  if (total <= 0) return null
  const rank = q * total
  let prevBound = 0
  let prevCount = 0
  for (const [bound, count] of buckets) {
    if (count >= rank) {
      if (bound === Infinity) return prevBound
      const inBucket = count - prevCount
      return inBucket <= 0 ? bound : prevBound + (bound - prevBound) * ((rank - prevCount) / inBucket)
    }
    prevBound = bound
    prevCount = count
  }
  return prevBound
}

// A counter that went down was reset (another registry, a restart): count from zero again.
const delta = (now: number, then: number) => (now >= then ? now - then : now)

/** The difference between two readings; `from` undefined means since the process started. */
export function summarize (to: MetricTotals, from?: MetricTotals): MetricSummary {
  const base = from ?? { at: to.at, cache: { hits: 0, misses: 0, failOpen: 0, errors: 0 }, stepBuckets: [], steps: 0 }
  const hits = delta(to.cache.hits, base.cache.hits)
  const misses = delta(to.cache.misses, base.cache.misses)
  const failOpen = delta(to.cache.failOpen, base.cache.failOpen)
  const errors = delta(to.cache.errors, base.cache.errors)
  const reads = hits + misses + failOpen
  const before = new Map(base.stepBuckets)
  const buckets = to.stepBuckets.map(([le, n]): [number, number] => [le, delta(n, before.get(le) ?? 0)])
  const count = delta(to.steps, base.steps)
  const windowSec = from === undefined ? null : (to.at - from.at) / 1000
  const ms = (s: number | null) => (s === null ? null : Math.round(s * 1e6) / 1000)
  return {
    windowSec,
    cache: { hits, misses, failOpen, errors, hitRatio: reads > 0 ? hits / reads : null },
    steps: {
      count,
      perSec: windowSec ? count / windowSec : null,
      p50Ms: ms(histogramQuantile(0.5, buckets)),
      p99Ms: ms(histogramQuantile(0.99, buckets)),
    },
  }
}

/** Readings over a sliding window (default 60 s), for rates and quantiles over the last minute. */
export function createMetricWindow (registry: Registry, { windowMs = 60_000 } = {}) {
  const readings: MetricTotals[] = []
  return {
    async read (at = Date.now()): Promise<MetricSummary> {
      const totals = await readMetricTotals(registry, at)
      readings.push(totals)
      // Keep one reading at or before the window's start, so the window is covered whole.
      while (readings.length > 2 && readings[1]!.at <= at - windowMs) readings.shift()
      const from = readings.length > 1 ? readings[0] : undefined
      return summarize(totals, from)
    },
  }
}
