import pino, { type Logger } from 'pino'
import { createClock, type Clock } from './clock.ts'
import { SimError } from './errors.ts'
import { createInstance, type InstanceOptions, type SimInstance } from './instance.ts'
import { createRng } from './prng.ts'
import { resolveProfile, type Profile } from './profile.ts'
import { addStats, emptyStats, type SimStats } from './stats.ts'

// Many simulated instances in one process, sharing one clock. Each gets its own seeded
// stream (derived from the fleet seed and its index), its own AMI port and its own agent.

type PerInstance<T> = T | ((index: number, id: string) => T)

export interface FleetOptions {
  /** How many instances. */
  instances: number
  /** Calls each instance holds at most. */
  capacity: number
  /** First AMI port (instance i listens on base + i); 0 picks free ports. */
  amiPortBase?: number
  amiHost?: string
  /** Where each instance's agent listens for FastAGI. */
  agiTarget: PerInstance<{ host: string, port: number }>
  /** Simulated time runs this many times faster than real time. */
  speed?: number
  seed?: number | string
  /** A partial profile (JSON); defaults fill the rest. */
  profile?: unknown
  /** Instance ids are `${idPrefix}${index + 1}` unless `ids` names them. */
  idPrefix?: string
  ids?: string[]
  amiUsers?: Record<string, string>
  soundsDir?: PerInstance<string | undefined>
  recordingsDir?: PerInstance<string | undefined>
  /** Inbound calls: `cps` is the fleet's total rate (simulated seconds), spread evenly. */
  inbound?: { cps: number, number: string, context?: string }
  logger?: Logger
  /** Passed to every instance as is. */
  instanceDefaults?: Partial<Pick<InstanceOptions, 'asteriskVersion' | 'amiVersion' | 'maxSteps' | 'sorryPrompt' | 'sorryCause' | 'agiConnectTimeoutMs' | 'agiSessionTimeoutMs'>>
}

export interface Fleet {
  readonly clock: Clock
  readonly profile: Profile
  readonly instances: SimInstance[]
  /** Starts every AMI server and (unless `inbound` is false) the inbound streams. */
  start: (opts?: { inbound?: boolean }) => Promise<void>
  /** Starts the inbound streams after start({ inbound: false }). */
  startInbound: () => void
  /** Stops every instance (see SimInstance.stop), then the clock. Idempotent. */
  stop: (opts?: { graceMs?: number }) => Promise<void>
  /** Totals over the fleet; `active` and `peak` are fleet-wide. */
  stats: () => SimStats
  /** Calls and ringing attempts over the fleet. */
  active: () => number
}

export function createFleet (o: FleetOptions): Fleet {
  if (!Number.isInteger(o.instances) || o.instances < 1) throw new SimError('FED_SIM_BAD_OPTIONS', `instances must be a positive integer, got ${o.instances}`)
  if (!Number.isInteger(o.capacity) || o.capacity < 1) throw new SimError('FED_SIM_BAD_OPTIONS', `capacity must be a positive integer, got ${o.capacity}`)
  if (o.inbound && !(o.inbound.cps >= 0)) throw new SimError('FED_SIM_BAD_OPTIONS', `inbound cps must be >= 0, got ${o.inbound.cps}`)
  const logger = o.logger ?? pino({ level: 'silent' })
  const profile = resolveProfile(o.profile ?? {})
  const clock = createClock({ speed: o.speed ?? 1 })
  const root = createRng(o.seed ?? 1)
  const shared = { active: 0, peak: 0 }
  const pick = <T>(v: PerInstance<T>, i: number, id: string): T => typeof v === 'function' ? (v as (i: number, id: string) => T)(i, id) : v
  const instances: SimInstance[] = []
  for (let i = 0; i < o.instances; i++) {
    const id = o.ids?.[i] ?? `${o.idPrefix ?? 'sim-'}${i + 1}`
    instances.push(createInstance({
      ...o.instanceDefaults,
      id,
      capacity: o.capacity,
      clock,
      rng: root.fork(i),
      profile,
      agiTarget: pick(o.agiTarget, i, id),
      amiPort: o.amiPortBase ? o.amiPortBase + i : 0,
      amiHost: o.amiHost,
      amiUsers: o.amiUsers,
      soundsDir: pick(o.soundsDir, i, id),
      recordingsDir: pick(o.recordingsDir, i, id),
      inbound: o.inbound ? { ...o.inbound, cps: o.inbound.cps / o.instances } : undefined,
      logger,
      shared,
    }))
  }
  let stopped: Promise<void> | undefined
  return {
    clock,
    profile,
    instances,
    async start (opts) {
      await Promise.all(instances.map((x) => x.start(opts)))
    },
    startInbound () {
      for (const x of instances) x.startInbound()
    },
    stop (opts) {
      stopped ??= (async () => {
        await Promise.all(instances.map((x) => x.stop(opts)))
        clock.close()
      })()
      return stopped
    },
    stats () {
      const total = emptyStats()
      for (const x of instances) addStats(total, x.stats())
      total.active = shared.active
      total.peak = shared.peak
      return total
    },
    active: () => shared.active,
  }
}
