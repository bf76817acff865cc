import { instances, type Queryable } from '@federate/db'
import { FaultError, type ParamsOf, type ResultOf } from '@federate/protocol'
import { assertSameInstance, type InstanceAuth } from '../auth/instance-auth.ts'

/**
 * instance.heartbeat: stores the instance's load and versions, and answers what it must do:
 * `drain` while the controller is draining it (or it was terminated), `resume` once it is
 * ready again, `sync` when the audio manifest moved past the version it holds.
 */
export function createHeartbeat (deps: { db: Queryable, manifestVersion: () => Promise<number> }) {
  return async function heartbeat (p: ParamsOf<'instance.heartbeat'>, ctx: { auth: InstanceAuth }): Promise<ResultOf<'instance.heartbeat'>> {
    assertSameInstance(ctx.auth, p.instanceId)
    let row
    try {
      row = await instances.heartbeat(deps.db, {
        instanceId: p.instanceId,
        activeCalls: p.activeCalls,
        capacity: p.capacity,
        manifestVersion: p.manifestVersion,
        agentVersion: p.version,
        pendingUploads: p.pendingUploads,
        ready: p.ready,
      })
    } catch (err) {
      throw new FaultError('UNAVAILABLE', 'the heartbeat could not be stored', { cause: err })
    }
    const manifestVersion = await deps.manifestVersion()
    const commands: ResultOf<'instance.heartbeat'>['commands'] = []
    if (row.state === 'draining' || row.state === 'terminated') commands.push('drain')
    // An instance the controller put back into service (draining -> ready) takes calls again.
    else if (row.state === 'ready') commands.push('resume')
    if (manifestVersion > p.manifestVersion) commands.push('sync')
    return { commands, manifestVersion }
  }
}
