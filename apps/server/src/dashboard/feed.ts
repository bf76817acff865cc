import type { FastifyBaseLogger as Logger } from 'fastify'
import type { Registry } from 'prom-client'
import type { Queryable } from '@federate/db'
import { createMetricWindow, type MetricSummary } from './metrics-window.ts'
import { createSnapshotReader, type DbSnapshot } from './snapshot.ts'

/** One point of the plots. */
export interface Sample {
  /** Unix time, seconds (uPlot's x axis). */
  t: number
  calls: number
  cps: number
  instances: { ready: number, starting: number, draining: number }
  /** Calls that ready instances can take. */
  capacity: number
  campaigns: Record<string, { concurrent: number, cps: number }>
}

/** What every client receives; `history` only in the first message of a stream (and in GET /snapshot). */
export interface Snapshot extends DbSnapshot {
  at: string
  intervalMs: number
  metrics: MetricSummary
  sample: Sample
  /** Set when the last read failed: the rest is the previous read's. */
  error?: string
  history?: Sample[]
}

export interface FeedOptions {
  db: Queryable
  registry: Registry
  /** Between two reads of PostgreSQL (default 2 s). */
  intervalMs?: number
  /** How much of the plots is kept in memory (default 10 min). */
  historyMs?: number
  logger: Logger
}

const STARTING = new Set(['pending', 'booting', 'syncing'])

function sampleOf (at: number, db: DbSnapshot): Sample {
  const instances = { ready: 0, starting: 0, draining: 0 }
  let capacity = 0
  for (const i of db.fleet.rows) {
    if (i.state === 'ready') {
      instances.ready++
      capacity += i.capacity
    } else if (STARTING.has(i.state)) instances.starting++
    else if (i.state === 'draining') instances.draining++
  }
  return { t: Math.round(at / 100) / 10, calls: db.calls.active, cps: db.calls.cps, instances, capacity, campaigns: db.callsByCampaign }
}

/**
 * The dashboard's one polling loop per process: reads PostgreSQL and the metrics registry every
 * intervalMs while at least one listener is subscribed (and not at all otherwise), keeps the
 * plots' history, and hands every listener the same snapshot.
 */
export function createDashboardFeed (options: FeedOptions) {
  const intervalMs = options.intervalMs ?? 2000
  const historyMs = options.historyMs ?? 600_000
  const reader = createSnapshotReader(options.db)
  const metricWindow = createMetricWindow(options.registry)
  const logger = options.logger
  const listeners = new Set<(s: Snapshot) => void>()
  const history: Sample[] = []
  let latest: Snapshot | undefined
  let timer: NodeJS.Timeout | undefined
  let inFlight: Promise<void> | undefined
  // A timer is pending or a read is in flight: there is never more than one loop.
  let running = false
  let closed = false
  let failing = false

  async function build (fresh: boolean): Promise<Snapshot> {
    const now = Date.now()
    const [db, metrics] = await Promise.all([reader.read({ fresh, now }), metricWindow.read(now)])
    return { at: new Date(now).toISOString(), intervalMs, ...db, metrics, sample: sampleOf(now, db) }
  }

  async function tick (): Promise<void> {
    timer = undefined
    const started = Date.now()
    try {
      latest = await build(false)
      history.push(latest.sample)
      while (history.length > 0 && history[0]!.t < latest.sample.t - historyMs / 1000) history.shift()
      if (failing) logger.info('dashboard reads work again')
      failing = false
    } catch (err) {
      if (!failing) logger.warn({ err }, 'dashboard read failed; showing the last snapshot as stale')
      failing = true
      if (latest !== undefined) latest = { ...latest, error: 'PostgreSQL did not answer; these numbers are stale' }
    }
    if (latest !== undefined) {
      for (const listener of listeners) {
        try {
          listener(latest)
        } catch (err) {
          logger.warn({ err }, 'a dashboard listener failed')
        }
      }
    }
    schedule(Math.max(0, intervalMs - (Date.now() - started)))
  }

  function schedule (delayMs: number): void {
    if (closed || listeners.size === 0) {
      running = false
      return
    }
    running = true
    timer = setTimeout(() => {
      inFlight = tick().finally(() => { inFlight = undefined })
    }, delayMs)
  }

  return {
    intervalMs,
    /** Calls `listener` with every snapshot until the returned function is called. */
    subscribe (listener: (s: Snapshot) => void): () => void {
      listeners.add(listener)
      if (!running && !closed) schedule(0)
      return () => {
        listeners.delete(listener)
        if (listeners.size === 0 && timer !== undefined) {
          clearTimeout(timer)
          timer = undefined
          running = false
        }
      }
    },
    /** The last snapshot if it is recent enough to show a new client at once. */
    current (): Snapshot | undefined {
      return latest !== undefined && Date.now() - Date.parse(latest.at) < 2 * intervalMs ? latest : undefined
    },
    history (): Sample[] { return history.slice() },
    /** A fresh read of everything (GET /snapshot), with the history kept so far. */
    async snapshot (): Promise<Snapshot> {
      return { ...await build(true), history: history.slice() }
    },
    get listeners (): number { return listeners.size },
    /** Stops the loop and waits for a read in flight (so the pool can close after it). */
    async close (): Promise<void> {
      closed = true
      listeners.clear()
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      running = false
      await inFlight
    },
  }
}

export type DashboardFeed = ReturnType<typeof createDashboardFeed>
