import { flows as flowsRepo, numbers as numbersRepo, type Queryable } from '@federate/db'
import type { Flow } from '@federate/flows'
import { FaultError } from '@federate/protocol'

/** The part of @federate/cache the step path needs. */
export interface ReadThroughCache {
  get: <T>(key: string, loader: () => Promise<T>, options?: { ttlSec?: number }) => Promise<T>
  delete: (key: string) => Promise<unknown>
}

export interface FlowRef { flowId: string, version: number }

const ROUTE_TTL_SEC = 60
// Parsed flow versions kept in this process. A published version never changes, so this needs
// no invalidation: it only spares the Memcached round trip and JSON parse on each step.
const LOCAL_FLOWS = 256

export const formatRef = (r: FlowRef): string => `${r.flowId}@${r.version}`

/** Parses `id@version`; anything else is a flow-not-found fault. */
export function parseRef (ref: string | undefined): FlowRef {
  const m = ref === undefined ? null : /^([A-Za-z0-9_.:-]{1,128})@([1-9][0-9]{0,8})$/.exec(ref)
  if (m === null) throw new FaultError('FLOW_NOT_FOUND', `bad flow reference ${JSON.stringify(ref)}`)
  return { flowId: m[1]!, version: Number(m[2]) }
}

/**
 * The lookups of the step path, through Memcached: a dialled number's route (short TTL, deleted
 * when a binding or a floating flow changes) and a flow by id@version (immutable: cached
 * without expiry, since a published version never changes).
 */
export function createFlowSource (db: Queryable, cache: ReadThroughCache, { local = true }: { local?: boolean } = {}) {
  const parsed = new Map<string, Flow>()
  async function resolveNumber (number: string): Promise<FlowRef | null> {
    return await cache.get(`route:${number}`, async () => {
      const route = await numbersRepo.resolve(db, number)
      if (route === null) return null
      if (route.version !== null) return { flowId: route.flowId, version: route.version }
      const latest = await flowsRepo.getLatest(db, route.flowId)
      return latest === null ? null : { flowId: route.flowId, version: latest.version }
    }, { ttlSec: ROUTE_TTL_SEC })
  }

  return {
    /** The flow for the first dialled number that routes, trying each candidate in order. */
    async route (candidates: Array<string | undefined>): Promise<{ number: string, ref: FlowRef }> {
      const tried: string[] = []
      for (const number of candidates) {
        if (!number || tried.includes(number) || !/^[A-Za-z0-9+*#_.:-]{1,64}$/.test(number)) continue
        tried.push(number)
        const ref = await resolveNumber(number)
        if (ref !== null) return { number, ref }
      }
      throw new FaultError('NOT_ROUTED', tried.length ? `tried ${tried.join(', ')}` : 'no dialled number on the channel')
    },

    async flow (ref: FlowRef): Promise<Flow> {
      const key = formatRef(ref)
      const hit = parsed.get(key)
      if (hit !== undefined) return hit
      const definition = await cache.get(`flow:${key}`, async () => {
        const v = await flowsRepo.getVersion<Flow>(db, ref.flowId, ref.version)
        return v === null ? null : v.definition
      }, { ttlSec: 0 })
      if (definition === null) throw new FaultError('FLOW_NOT_FOUND', key)
      if (local) {
        if (parsed.size >= LOCAL_FLOWS) parsed.delete(parsed.keys().next().value as string)
        parsed.set(key, definition)
      }
      return definition
    },

    /** Forget cached routes after a binding changed or a flow got a new version. */
    async invalidateRoutes (numbers: string[]): Promise<void> {
      await Promise.all(numbers.map(async (n) => { await cache.delete(`route:${n}`) }))
    },
  }
}

export type FlowSource = ReturnType<typeof createFlowSource>
