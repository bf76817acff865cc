import type { GroupCommitter, Queryable } from '@federate/db'
import type { Keyring } from '@federate/flows'
import { FaultError } from '@federate/protocol'
import { createXmlRpcRegistry, type XmlRpcRegistry } from '@federate/xmlrpc'
import { assertSameInstance, type InstanceAuth } from '../auth/instance-auth.ts'
import type { FlowSource } from '../flow-source.ts'
import type { Metrics } from '../metrics.ts'
import { createCallEnd } from './call-end.ts'
import { createCallStep } from './call-step.ts'
import { createHeartbeat } from './heartbeat.ts'
import type { OutboundCalls } from './outbound.ts'
import type { DialerService, StorageService } from './services.ts'

export interface RpcDeps {
  db: Queryable
  flows: FlowSource
  committer: GroupCommitter
  keyring: () => Keyring
  metrics: Metrics
  outbound?: OutboundCalls
  dialer?: DialerService
  storage?: StorageService
  stateTtlSec: number
  httpAllowList: readonly string[]
  httpTimeoutMs: number
}

/** Every protocol v1 method, implemented. */
export function createRpcRegistry (deps: RpcDeps): XmlRpcRegistry<InstanceAuth> {
  const registry = createXmlRpcRegistry<InstanceAuth>()
  const unavailable = (what: string) => new FaultError('UNAVAILABLE', `${what} is not enabled on this server`)
  registry.implement('call.step', createCallStep(deps))
  registry.implement('call.end', createCallEnd(deps))
  registry.implement('instance.heartbeat', createHeartbeat({
    db: deps.db,
    manifestVersion: async () => deps.storage ? await deps.storage.currentVersion() : 0,
  }))
  registry.implement('dialer.next', async (p, ctx) => {
    assertSameInstance(ctx.auth, p.instanceId)
    if (deps.dialer === undefined || p.free === 0) return []
    try {
      return await deps.dialer.next(p.instanceId, p.free)
    } catch (err) {
      // PostgreSQL or Redis is away: no work now, the agent asks again shortly.
      throw new FaultError('UNAVAILABLE', 'the dialer cannot hand out calls now', { cause: err })
    }
  })
  registry.implement('storage.manifest', async (p, ctx) => {
    assertSameInstance(ctx.auth, p.instanceId)
    if (deps.storage === undefined) return { version: 0, full: true, files: [], deleted: [] }
    return await deps.storage.manifest(p.since)
  })
  registry.implement('recording.upload', async (p, ctx) => {
    assertSameInstance(ctx.auth, p.instanceId)
    if (deps.storage === undefined) throw unavailable('storage')
    return await deps.storage.recordingUpload(p)
  })
  return registry
}
