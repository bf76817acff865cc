import type { Readable, Writable } from 'node:stream'
import { Redis } from 'ioredis'
import type pg from 'pg'
import { pino, type Logger } from 'pino'
import type { Campaign, CampaignStatus } from './campaign.ts'
import type { DialerContext } from './context.ts'
import { dispatchTick, readGlobalCaps, runningCampaigns, type GlobalCaps, type TickResult } from './dispatcher.ts'
import { DialerError } from './errors.ts'
import { importContacts, importDnc, type ImportContactsOptions, type ImportDncOptions, type ImportDncResult, type ImportResult } from './import-contacts.ts'
import { leaseCalls, reapLeases, type DialJob, type RunningCampaign } from './leases.ts'
import { createCampaign, getCampaign, listCampaigns, transition, updateCampaign } from './lifecycle.ts'
import { callEnded, callStarted, settleInstanceLost, type CallEnded, type CallEndResult, type CallStarted } from './outcomes.ts'
import { CampaignQueues } from './queues.ts'
import { campaignStats, exportCsv, type CampaignStats } from './stats.ts'
import { createPlacement, type PlacementRules } from './placement.ts'
import { cohortMs, contactsToDial, GAP_SHARE, WIND_DOWN_SEC, windingDown } from './wind-down.ts'

// Instance states that take no new calls: the controller is draining it, or it is gone.
const LEAVING = new Set(['draining', 'terminated', 'lost'])

export interface DialerOptions {
  pool: pg.Pool
  /** Redis for the BullMQ queues: a URL (the dialer owns the connection) or a client (it does not). */
  redisUrl?: string
  connection?: Redis
  logger?: Logger
  /** The current time (tests control it); PostgreSQL and queue rates use it, BullMQ's limiter does not. */
  clock?: () => Date
  /** BullMQ key prefix (default `fed:dialer`). */
  prefix?: string
  /** Seconds of work kept queued per campaign (default 2). */
  bufferSec?: number
  /** Seconds a lease lasts beyond the ring timeout (default 30). */
  leaseGraceSec?: number
  /** Seconds before a queued contact's job is re-added (default 15; re-adding is idempotent: same job id). */
  staleQueuedSec?: number
  /** How long a Redis command may take before it is given up (default 2,000 ms). */
  redisTimeoutMs?: number
  /** How long the list of running campaigns is reused by `next()` (default 1,000 ms). */
  campaignCacheMs?: number
  /**
   * Which instance gets campaign calls (default `fill`: one instance fills at a time, so each
   * instance's calls end together and a winding-down campaign frees instances one by one; see
   * placement.ts). `any`: whoever asks first.
   */
  placement?: 'fill' | 'any'
  /**
   * The agents' dialer.next interval (default 300 ms, FEDERATE_DIALER_INTERVAL_MS): the calls the
   * running campaigns bring in one interval is the room above an instance that makes it wait.
   */
  placementPullMs?: number
}

/** Campaigns, contacts, pacing and dial outcomes: what REST, CLI and XML-RPC call. */
export interface Dialer {
  create: (input: unknown) => Promise<Campaign>
  get: (campaignId: string) => Promise<Campaign>
  list: (filter?: { status?: CampaignStatus }) => Promise<Campaign[]>
  update: (campaignId: string, input: unknown) => Promise<Campaign>
  start: (campaignId: string) => Promise<Campaign>
  pause: (campaignId: string) => Promise<Campaign>
  resume: (campaignId: string) => Promise<Campaign>
  stop: (campaignId: string) => Promise<Campaign>
  stats: (campaignId: string, opts?: { windowSec?: number }) => Promise<CampaignStats>
  exportCsv: (campaignId: string, out: Writable) => Promise<number>
  importContacts: (campaignId: string, input: Readable, opts?: Omit<ImportContactsOptions, 'pool' | 'campaignId' | 'input'>) => Promise<ImportResult>
  importDnc: (input: Readable, opts?: Omit<ImportDncOptions, 'pool' | 'input'>) => Promise<ImportDncResult>
  /** Global caps across campaigns (null: none). */
  getGlobalCaps: () => Promise<GlobalCaps>
  setGlobalCaps: (caps: Partial<GlobalCaps>) => Promise<GlobalCaps>
  /** One dispatcher pass (idempotent; safe on several servers at once). */
  tick: () => Promise<TickResult>
  /** dialer.next: lease up to `free` calls to an instance. */
  next: (instanceId: string, free: number) => Promise<DialJob[]>
  reapLeases: (now?: Date) => Promise<number>
  onCallStarted: (callId: string) => Promise<CallStarted>
  onCallEnded: (end: CallEnded) => Promise<CallEndResult>
  settleInstanceLost: (instanceId: string) => Promise<number>
  /** Runs tick + reapLeases every `intervalMs` (default 250) until `close()`. */
  run: (opts?: { intervalMs?: number }) => void
  close: () => Promise<void>
}

export function createDialer (opts: DialerOptions): Dialer {
  if (!opts.redisUrl && !opts.connection) throw new DialerError('FED_DIALER_INVALID_INPUT', 'createDialer needs redisUrl or connection')
  const logger = (opts.logger ?? pino({ level: 'silent' })).child({ module: 'dialer' })
  const ownsConnection = !opts.connection
  // BullMQ wants maxRetriesPerRequest null (workers); commands are bounded by our own timeouts.
  const connection = opts.connection ?? new Redis(opts.redisUrl!, { maxRetriesPerRequest: null, lazyConnect: false })
  if (ownsConnection) connection.on('error', () => {}) // reported by the queues, rate-limited
  const prefix = opts.prefix ?? 'fed:dialer'
  const queues = new CampaignQueues({ connection, prefix, logger, commandTimeoutMs: opts.redisTimeoutMs ?? 2000 })
  const placement = (opts.placement ?? 'fill') === 'fill' ? createPlacement({ redis: connection, key: `${prefix}:room` }) : null
  // Placement is an optimisation: if Redis cannot say soon (commands queue during an outage),
  // the instance is served as it asks.
  const placementTimeoutMs = Math.min(500, opts.redisTimeoutMs ?? 2000)
  const pullSec = (opts.placementPullMs ?? 300) / 1000
  // `rate`: the running campaigns' calls per second between them.
  const mayPlace = async (instanceId: string, free: number, rate: number, rules: PlacementRules) => {
    if (!placement) return true
    const batch = Math.ceil(rate * pullSec)
    let timer: NodeJS.Timeout | undefined
    try {
      return await Promise.race([
        placement.report(instanceId, free, Date.now(), batch, rules),
        new Promise<boolean>((resolve) => { timer = setTimeout(() => { resolve(true) }, placementTimeoutMs) }),
      ])
    } catch (err) {
      logger.debug({ err: (err as Error).message }, 'placement report failed')
      return true
    } finally {
      clearTimeout(timer)
    }
  }
  // An instance the controller is draining keeps asking until its next heartbeat tells it (up to
  // a heartbeat interval): a call handed to it then would hold it up a whole call longer.
  const instanceRow = async (instanceId: string): Promise<{ state: string, capacity: number } | undefined> => {
    const { rows } = await opts.pool.query<{ state: string, capacity: number }>('SELECT state, capacity FROM instances WHERE id = $1', [instanceId])
    return rows[0]
  }
  const ctx: DialerContext = {
    pool: opts.pool,
    queues,
    logger,
    clock: opts.clock ?? (() => new Date()),
    bufferSec: opts.bufferSec ?? 2,
    leaseGraceSec: opts.leaseGraceSec ?? 30,
    staleQueuedSec: opts.staleQueuedSec ?? 15,
  }
  const cacheMs = opts.campaignCacheMs ?? 1000
  let running: { at: number, list: RunningCampaign[] } | undefined
  let rotate = 0
  let closed = false
  let timer: NodeJS.Timeout | undefined
  let loop: Promise<void> | undefined

  const alive = () => { if (closed) throw new DialerError('FED_DIALER_CLOSED') }
  const invalidate = <T>(v: T): T => { running = undefined; return v }

  async function runningList (): Promise<RunningCampaign[]> {
    if (running && Date.now() - running.at < cacheMs) return running.list
    const r = await runningCampaigns(ctx.pool)
    const list = await Promise.all(r.campaigns.map(async (c) => {
      const rateCps = r.rates.get(c.id)!
      // Only placement needs to know (one bounded count per campaign, once per cacheMs).
      const left = placement ? await contactsToDial(ctx.pool, c.id, WIND_DOWN_SEC, Math.ceil(rateCps * WIND_DOWN_SEC) + 1) : Infinity
      return { id: c.id, rateCps, windingDown: windingDown(left, rateCps) }
    }))
    running = { at: Date.now(), list }
    return running.list
  }

  const dialer: Dialer = {
    create: async (input) => { alive(); return await createCampaign(ctx, input) },
    get: async (id) => await getCampaign(ctx, id),
    list: async (filter) => await listCampaigns(ctx, filter),
    update: async (id, input) => invalidate(await updateCampaign(ctx, id, input)),
    start: async (id) => { alive(); return invalidate(await transition(ctx, id, 'start')) },
    pause: async (id) => invalidate(await transition(ctx, id, 'pause')),
    resume: async (id) => { alive(); return invalidate(await transition(ctx, id, 'resume')) },
    stop: async (id) => invalidate(await transition(ctx, id, 'stop')),
    stats: async (id, o) => await campaignStats(ctx, id, o),
    exportCsv: async (id, out) => await exportCsv(ctx, id, out),
    importContacts: async (campaignId, input, o = {}) =>
      await importContacts({ ...o, now: o.now ?? ctx.clock(), pool: ctx.pool, campaignId, input }),
    importDnc: async (input, o = {}) => await importDnc({ ...o, pool: ctx.pool, input }),
    getGlobalCaps: async () => await readGlobalCaps(ctx.pool),
    async setGlobalCaps (caps) {
      for (const [k, v] of Object.entries(caps)) {
        if (v !== null && v !== undefined && !(typeof v === 'number' && v > 0 && Number.isFinite(v) && (k !== 'maxConcurrent' || Number.isInteger(v)))) {
          throw new DialerError('FED_DIALER_INVALID_INPUT', `${k} must be a positive number or null`)
        }
      }
      await ctx.pool.query(`UPDATE dialer_settings SET
        max_concurrent = CASE WHEN $1 THEN $2::int ELSE max_concurrent END,
        max_cps = CASE WHEN $3 THEN $4::numeric ELSE max_cps END, updated_at = now() WHERE id`,
      ['maxConcurrent' in caps, caps.maxConcurrent ?? null, 'maxCps' in caps, caps.maxCps ?? null])
      running = undefined
      return await readGlobalCaps(ctx.pool)
    },
    async tick () {
      alive()
      const r = await dispatchTick(ctx)
      if (r.completed.length) running = undefined
      return r
    },
    async next (instanceId, free) {
      if (closed || free <= 0) return []
      const list = await runningList()
      if (list.length === 0) return []
      const row = await instanceRow(instanceId)
      if (row !== undefined && LEAVING.has(row.state)) return []
      // Its capacity as its heartbeats say (unknown: what it asks for now).
      const capacity = row?.capacity || free
      const rate = list.reduce((s, c) => s + c.rateCps, 0)
      const rules: PlacementRules = { cohortMs: cohortMs(capacity, rate), gapMax: Math.floor(capacity * GAP_SHARE), tight: list.some((c) => c.windingDown === true) }
      if (!await mayPlace(instanceId, free, rate, rules)) return []
      rotate = (rotate + 1) % list.length
      const jobs = await leaseCalls(ctx, list, instanceId, Math.min(free, 10_000), rotate)
      // Not waited for: a lost update only goes stale (freshMs) like a silent instance's.
      if (placement && jobs.length > 0) placement.left(instanceId, free - jobs.length, Date.now(), rules.cohortMs).catch(() => {})
      return jobs
    },
    reapLeases: async (now) => await reapLeases(ctx, now ?? ctx.clock()),
    onCallStarted: async (callId) => await callStarted(ctx, callId),
    onCallEnded: async (end) => await callEnded(ctx, end),
    settleInstanceLost: async (instanceId) => await settleInstanceLost(ctx, instanceId),
    run ({ intervalMs = 250 } = {}) {
      alive()
      if (timer) return
      const pass = async () => {
        try {
          await dialer.reapLeases()
          await dialer.tick()
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'dialer pass failed')
        }
      }
      const schedule = () => {
        timer = setTimeout(() => {
          loop = pass().finally(() => { if (!closed) schedule() })
        }, intervalMs)
        timer.unref()
      }
      schedule()
    },
    async close () {
      if (closed) return
      closed = true
      clearTimeout(timer)
      await loop?.catch(() => {})
      await queues.close()
      if (ownsConnection) await connection.quit().catch(() => { connection.disconnect() })
    },
  }
  return dialer
}
