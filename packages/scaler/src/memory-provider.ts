import { ScalerError } from './errors.ts'
import type { LaunchRequest, LaunchResult, Provider, ProviderInstance } from './provider.ts'

// An in-memory provider: the Provider interface with no machines behind it. For the controller's
// tests and scenario tests that bring their own simulated agents. It behaves like EC2 where that
// matters: idempotent launches by id, a listing that lags behind launches, instances that vanish.

export interface MemoryProviderOptions {
  name?: string
  /** A launched instance stays out of `list()` this long (ms), as EC2's DescribeInstances may. */
  listLagMs?: number
  /** pending -> running after this long (ms). */
  bootMs?: number
  /** The time in ms (default Date.now). */
  clock?: () => number
  /** Runs before each request starts an instance: throw to fail that request, await to hold it. */
  onLaunch?: (request: LaunchRequest) => void | Promise<void>
  /** Runs after an instance started (e.g. to start a simulated agent for it). */
  onStarted?: (request: LaunchRequest, instance: ProviderInstance) => void | Promise<void>
  /** Runs when an instance is terminated. */
  onTerminated?: (id: string) => void | Promise<void>
}

export interface MemoryProvider extends Provider {
  /** Instances actually started (an idempotent repeat does not count). */
  readonly starts: number
  /** Calls to launch(). */
  readonly launchCalls: number
  /** Every instance ever started, hidden ones included. */
  all: () => ProviderInstance[]
  /** The token each instance was started with. */
  tokenOf: (id: string) => string | undefined
  /** The instance dies on its own (a crash, a spot reclaim): it is listed as terminated. */
  vanish: (id: string) => void
}

export function createMemoryProvider (opts: MemoryProviderOptions = {}): MemoryProvider {
  const clock = opts.clock ?? Date.now
  type Entry = ProviderInstance & { visibleAt: number, bootedAt: number, token: string }
  const instances = new Map<string, Entry>()
  let starts = 0
  let launchCalls = 0
  let seq = 0
  let closed = false

  const view = (i: ProviderInstance & { bootedAt: number }): ProviderInstance => ({
    id: i.id,
    ref: i.ref,
    state: i.state === 'pending' && clock() >= i.bootedAt ? 'running' : i.state,
    instanceType: i.instanceType,
    launchedAt: i.launchedAt,
    addr: i.addr ?? null,
  })

  return {
    name: opts.name ?? 'memory',
    get starts () { return starts },
    get launchCalls () { return launchCalls },
    async launch (requests: readonly LaunchRequest[]): Promise<LaunchResult> {
      if (closed) throw new ScalerError('FED_SCALER_CLOSED')
      launchCalls++
      const out: LaunchResult = { launched: [], failed: [] }
      for (const r of requests) {
        const known = instances.get(r.id)
        if (known) { out.launched.push(view(known)); continue }
        try {
          await opts.onLaunch?.(r)
        } catch (err) {
          out.failed.push({ id: r.id, error: err as Error })
          continue
        }
        // A launch held by onLaunch may race a second launch of the same id: the first wins.
        const again = instances.get(r.id)
        if (again) { out.launched.push(view(again)); continue }
        const now = clock()
        const inst: Entry = {
          id: r.id,
          ref: `mem-${++seq}`,
          state: 'pending',
          instanceType: r.instanceType ?? 'memory.small',
          launchedAt: new Date(now),
          addr: `10.0.0.${seq % 250}`,
          visibleAt: now + (opts.listLagMs ?? 0),
          bootedAt: now + (opts.bootMs ?? 0),
          token: r.token,
        }
        instances.set(r.id, inst)
        starts++
        out.launched.push(view(inst))
        await opts.onStarted?.(r, view(inst))
      }
      return out
    },
    async list () {
      const now = clock()
      return [...instances.values()].filter((i) => i.visibleAt <= now).map(view)
    },
    async terminate (ids: readonly string[]) {
      for (const id of ids) {
        const i = instances.get(id)
        if (!i || i.state === 'terminated') continue
        i.state = 'terminated'
        await opts.onTerminated?.(id)
      }
    },
    all: () => [...instances.values()].map(view),
    tokenOf: (id) => instances.get(id)?.token,
    vanish (id) {
      const i = instances.get(id)
      if (i) i.state = 'terminated'
    },
    async close () { closed = true },
  }
}
