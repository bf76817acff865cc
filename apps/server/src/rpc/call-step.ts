import { Compile } from 'typebox/compile'
import type { GroupCommitter } from '@federate/db'
import { openState, resumeHttp, sealState, step, StateTokenError, type FlowState, type Keyring, type StepResult } from '@federate/flows'
import { EventData, FaultError, type CallEvent, type EventName, type ParamsOf, type ResultOf } from '@federate/protocol'
import { assertSameInstance, type InstanceAuth } from '../auth/instance-auth.ts'
import { formatRef, parseRef, type FlowRef, type FlowSource } from '../flow-source.ts'
import type { Metrics } from '../metrics.ts'
import { performHttp } from './http-hook.ts'
import type { OutboundCalls } from './outbound.ts'
import { AMD_RESULT_NODE } from '../dialer-service.ts'

export interface StepDeps {
  flows: FlowSource
  committer: GroupCommitter
  keyring: () => Keyring
  metrics: Metrics
  outbound?: OutboundCalls
  stateTtlSec: number
  httpAllowList: readonly string[]
  httpTimeoutMs: number
  now?: () => number
}

const dataCheckers = Object.fromEntries(Object.entries(EventData).map(([k, s]) => [k, Compile(s)])) as unknown as
  Record<EventName, ReturnType<typeof Compile>>

/** A call's event, with its data checked against the event's schema (a wrong type is a fault). */
function toEvent (event: EventName, data: Record<string, unknown>): CallEvent {
  const check = dataCheckers[event]
  if (!check.Check(data)) {
    const e = [...check.Errors(data)][0]
    throw new FaultError('INVALID_PARAMS', `data of event ${event}${e ? `: ${e.instancePath || '/'} ${e.message}` : ''}`)
  }
  return { event, data } as CallEvent
}

/** Writes results and waits until they are durable; a failure is a fault the agent may retry. */
async function persist (committer: GroupCommitter, kind: string, records: unknown[]): Promise<void> {
  try {
    await Promise.all(records.map(async (r) => { await committer.write(kind, r) }))
  } catch (err) {
    throw new FaultError('NOT_DURABLE', `${kind} could not be stored`, { cause: err })
  }
}

/**
 * call.step: open the call's state (or route a new call), step its flow, perform web hooks the
 * flow asks for, make its results durable, and answer the next action with the sealed state.
 * Holds nothing in memory between steps: everything travels in the state token.
 */
export function createCallStep (deps: StepDeps) {
  const now = deps.now ?? Date.now
  return async function callStep (p: ParamsOf<'call.step'>, ctx: { auth: InstanceAuth }): Promise<ResultOf<'call.step'>> {
    assertSameInstance(ctx.auth, p.instanceId)
    const event = toEvent(p.event, p.data)
    const t = now()
    let state: FlowState | undefined
    let ref: FlowRef
    let vars: Record<string, string> | undefined
    if (p.state === undefined || p.state === '') {
      if (p.event !== 'start') throw new FaultError('INVALID_PARAMS', `a call's first step must be start, not ${p.event}`)
      const begun = await begin(p)
      ref = begun.ref
      vars = begun.vars
    } else {
      try {
        state = openState(p.state, deps.keyring(), t, { maxAgeSec: deps.stateTtlSec })
      } catch (err) {
        if (err instanceof StateTokenError) throw new FaultError(err.fault, err.message)
        throw err
      }
      if (state.call !== undefined && state.call !== p.callId) throw new FaultError('STATE_INVALID', 'the state token belongs to another call')
      ref = parseRef(state.ref)
    }
    const flow = await deps.flows.flow(ref)
    const ctxStep = { callId: p.callId, channel: p.channel, vars, ref: formatRef(ref), httpAllowList: deps.httpAllowList }
    let r: StepResult = step(flow, state, event, ctxStep)
    const results = [...r.results]
    while (r.kind === 'http') {
      const outcome = await performHttp(r.request, deps.httpAllowList, deps.httpTimeoutMs)
      r = resumeHttp(flow, r.state, outcome, ctxStep)
      results.push(...r.results)
    }
    if (results.length > 0) {
      const records = results.map((x) => ({ callId: p.callId, node: x.node, key: x.key, value: x.value }))
      // The answering-machine verdict also goes under a fixed name, where the dialer reads it at call.end.
      for (const x of results) if (x.type === 'amd') records.push({ callId: p.callId, node: AMD_RESULT_NODE, key: 'status', value: x.value })
      await persist(deps.committer, 'call.result', records)
    }
    deps.metrics.steps.inc({ action: r.action })
    const answer: ResultOf<'call.step'> = { action: r.action, args: r.args, state: sealState(r.state, deps.keyring(), t, { maxAgeSec: deps.stateTtlSec }) }
    if (r.vars !== undefined && Object.keys(r.vars).length > 0) answer.vars = r.vars
    return answer
  }

  // A new call: a campaign call leased by dialer.next runs its campaign's flow; any other call
  // routes by the dialled number (the AGI extension, then the DNID). Its start is made durable
  // (for an inbound call, with its end when PostgreSQL cannot take it now).
  async function begin (p: ParamsOf<'call.step'>): Promise<{ ref: FlowRef, vars?: Record<string, string> }> {
    const lease = deps.outbound ? await deps.outbound.started(p.callId, p.instanceId) : null
    if (lease !== null) {
      const ref = parseRef(lease.flowRef)
      await persist(deps.committer, 'call.start', [{
        callId: p.callId,
        instanceId: p.instanceId,
        direction: 'outbound',
        number: p.channel.extension ?? null,
        caller: p.channel.callerid ?? null,
        flowId: ref.flowId,
        flowVersion: ref.version,
        campaignId: lease.campaignId,
        attemptId: lease.attemptId ?? null,
      }])
      deps.metrics.calls.inc({ event: 'start', direction: 'outbound' })
      return { ref, vars: lease.vars }
    }
    const { number, ref } = await deps.flows.route([p.channel.extension, p.channel.dnid])
    try {
      await persist(deps.committer, 'call.start', [{
        callId: p.callId,
        instanceId: p.instanceId,
        direction: 'inbound',
        number,
        caller: p.channel.callerid ?? null,
        flowId: ref.flowId,
        flowVersion: ref.version,
      }])
    } catch {
      // PostgreSQL is away: the route and flow came from the cache, so the call goes on; its
      // start record is written with its call.end (rebuilt from the state token), which the
      // agent spools until it is durable (DESIGN rule 5: an outage stops no call).
      deps.metrics.calls.inc({ event: 'start_deferred', direction: 'inbound' })
    }
    deps.metrics.calls.inc({ event: 'start', direction: 'inbound' })
    return { ref }
  }
}
