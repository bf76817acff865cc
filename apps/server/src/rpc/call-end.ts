import type { CallStart, GroupCommitter } from '@federate/db'
import { openState, type Keyring } from '@federate/flows'
import { FaultError, type ParamsOf, type ResultOf } from '@federate/protocol'
import { assertSameInstance, type InstanceAuth } from '../auth/instance-auth.ts'
import { parseRef, type FlowRef } from '../flow-source.ts'
import type { Metrics } from '../metrics.ts'
import type { OutboundCalls } from './outbound.ts'

/**
 * call.end: the call record is durable (group commit) before `{ok: true}` is answered; when it
 * cannot be, the fault tells the agent to keep it in its spool and resend (idempotent by call id).
 */
/**
 * The call's start as its state token tells it (flow, dialled number, caller): written with
 * the end so that a call whose start could not be stored (a PostgreSQL outage) still has a
 * complete record. The database keeps what it already had and only fills what is missing.
 */
function startFromState (p: ParamsOf<'call.end'>, keyring: Keyring, ttlSec: number, now: number): CallStart | null {
  if (p.state === undefined || p.state === '') return null
  try {
    const s = openState(p.state, keyring, now, { maxAgeSec: ttlSec })
    let ref: FlowRef | null = null
    try { ref = parseRef(s.ref) } catch {}
    return {
      callId: p.callId,
      instanceId: p.instanceId,
      direction: 'inbound',
      number: s.vars.extension ?? s.vars.dnid ?? null,
      caller: s.vars.callerid ?? null,
      flowId: ref?.flowId ?? null,
      flowVersion: ref?.version ?? null,
      startedAt: new Date(now - p.durationSec * 1000),
    }
  } catch {
    return null
  }
}

export function createCallEnd (deps: { committer: GroupCommitter, metrics: Metrics, outbound?: OutboundCalls, keyring: () => Keyring, stateTtlSec: number }) {
  return async function callEnd (p: ParamsOf<'call.end'>, ctx: { auth: InstanceAuth }): Promise<ResultOf<'call.end'>> {
    assertSameInstance(ctx.auth, p.instanceId)
    const record = { callId: p.callId, instanceId: p.instanceId, cause: p.cause, durationSec: p.durationSec, billSec: p.billSec }
    const start = startFromState(p, deps.keyring(), deps.stateTtlSec, Date.now())
    try {
      await Promise.all([deps.committer.write('call.end', record), start ? deps.committer.write('call.start', start) : undefined])
      if (deps.outbound) await deps.outbound.ended(record)
    } catch (err) {
      throw new FaultError('NOT_DURABLE', 'the call end could not be stored', { cause: err })
    }
    deps.metrics.calls.inc({ event: 'end', direction: 'any' })
    return { ok: true }
  }
}
