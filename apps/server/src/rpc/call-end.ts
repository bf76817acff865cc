import type { GroupCommitter } from '@federate/db'
import { FaultError, type ParamsOf, type ResultOf } from '@federate/protocol'
import { assertSameInstance, type InstanceAuth } from '../auth/instance-auth.ts'
import type { Metrics } from '../metrics.ts'
import type { OutboundCalls } from './outbound.ts'

/**
 * call.end: the call record is durable (group commit) before `{ok: true}` is answered; when it
 * cannot be, the fault tells the agent to keep it in its spool and resend (idempotent by call id).
 */
export function createCallEnd (deps: { committer: GroupCommitter, metrics: Metrics, outbound?: OutboundCalls }) {
  return async function callEnd (p: ParamsOf<'call.end'>, ctx: { auth: InstanceAuth }): Promise<ResultOf<'call.end'>> {
    assertSameInstance(ctx.auth, p.instanceId)
    const record = { callId: p.callId, instanceId: p.instanceId, cause: p.cause, durationSec: p.durationSec, billSec: p.billSec }
    try {
      await deps.committer.write('call.end', record)
      if (deps.outbound) await deps.outbound.ended(record)
    } catch (err) {
      throw new FaultError('NOT_DURABLE', 'the call end could not be stored', { cause: err })
    }
    deps.metrics.calls.inc({ event: 'end', direction: 'any' })
    return { ok: true }
  }
}
