import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { Compile } from 'typebox/compile'
import { ActionArgs, CallStepResult, type ParamsOf, type ResultOf } from '@federate/protocol'
import type { AgiConnection } from './agi-connection.ts'
import { quote } from './agi-protocol.ts'
import { AgentError, AgentErrorCodes, AgiHangupError } from './errors.ts'
import { eventFromArgs, hangupVars, stepVars, type PathOptions } from './step-mapping.ts'
import type { CallEnd } from './spool.ts'

// One AGI request = one atomic step (CONTRACT.md §1): read the arguments, GET VARIABLE FED_STATE,
// ask the tier, SET VARIABLEs with FED_ACTION last, close. Anything that goes wrong leaves
// FED_ACTION empty and the dialplan plays the sorry prompt.

export interface StepContext {
  instanceId: string
  paths: PathOptions
  logger: Logger
  draining: () => boolean
  callStep: (params: ParamsOf<'call.step'>) => Promise<ResultOf<'call.step'>>
  endCall: (record: CallEnd) => Promise<void>
  /** Calls seen on this instance (for the count when AMI is off). */
  calls: { add: (callId: string) => void, delete: (callId: string) => void }
}

const CALL_ID = /^[A-Za-z0-9_.:-]{1,128}$/
const CHANNEL_KEY = /^[a-z_0-9]{1,64}$/
const NOT_CHANNEL = new Set(['network', 'network_script', 'request'])
/** Q.850 34: no circuit/channel available; the call is not answered yet, the carrier may go elsewhere. */
const CAUSE_DRAINING = 34
const CAUSE_NORMAL = 16

const checkResult = Compile(CallStepResult)
const checkArgs = Object.fromEntries(Object.entries(ActionArgs).map(([k, s]) => [k, Compile(s)])) as Record<string, ReturnType<typeof Compile>>

function args (env: Record<string, string>): string[] {
  const out: string[] = []
  for (let i = 1; i <= 5; i++) out.push(env[`arg_${i}`] ?? '')
  return out
}

/** The AGI environment the tier sees as `channel`: agi_* names without the prefix, no args. */
export function channelOf (env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  let n = 0
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith('arg_') || NOT_CHANNEL.has(k) || !CHANNEL_KEY.test(k)) continue
    if (++n > 62) break
    out[k] = v.length > 1024 ? v.slice(0, 1024) : v
  }
  return out
}

/** Checks an answer against the contract; throws FED_AGENT_BAD_ANSWER. */
export function checkAnswer (answer: unknown): ResultOf<'call.step'> {
  if (!checkResult.Check(answer)) {
    const first = [...checkResult.Errors(answer)][0]
    throw new AgentError(AgentErrorCodes.BAD_ANSWER, `call.step answer breaks the contract at ${first?.instancePath || '/'}: ${first?.message ?? ''}`)
  }
  const a = answer as ResultOf<'call.step'>
  const check = checkArgs[a.action]!
  if (!check.Check(a.args)) {
    const first = [...check.Errors(a.args)][0]
    throw new AgentError(AgentErrorCodes.BAD_ANSWER, `call.step ${a.action} args break the contract at ${first?.instancePath || '/'}: ${first?.message ?? ''}`)
  }
  return a
}

async function setAll (conn: AgiConnection, vars: Array<[string, string]>): Promise<void> {
  for (const [name, value] of vars) {
    if (conn.hungUp) throw new AgiHangupError()
    await conn.setVariable(name, quote(value))
  }
}

/** Handles `/step`; returns an outcome label for metrics. */
export async function handleStep (conn: AgiConnection, env: Record<string, string>, ctx: StepContext): Promise<string> {
  const [event = '', callIdArg = '', r1 = '', r2 = '', r3 = ''] = args(env)
  const isStart = event === 'start'
  let callId = callIdArg
  const newId = callId === ''
  if (newId) callId = randomUUID()
  const log = ctx.logger.child({ callId })
  if (!CALL_ID.test(callId)) {
    log.warn({ callId: callId.slice(0, 140) }, 'step with an unusable call id: sorry path')
    return 'bad_request'
  }
  try {
    if (isStart && ctx.draining()) {
      await setAll(conn, hangupVars(CAUSE_DRAINING))
      return 'drained'
    }
    const input = eventFromArgs(event, r1, r2, r3)
    if (input.kind === 'hangup') {
      await setAll(conn, hangupVars(CAUSE_NORMAL))
      return 'hangup_local'
    }
    const state = await conn.getVariable('FED_STATE')
    if (conn.hungUp) return 'hungup'
    const channel = channelOf(env)
    if (isStart && r1 !== '') {
      channel.fed_campaign = r1.slice(0, 1024)
      channel.fed_flowref = r2.slice(0, 1024)
    }
    // The number the call arrived on: after the dialplan's Goto, agi_extension is the loop's own.
    if (isStart && r3 !== '') channel.extension = r3.slice(0, 1024)
    const params: ParamsOf<'call.step'> = { callId, instanceId: ctx.instanceId, event: input.event, data: input.data, channel }
    if (state !== undefined && state !== '') params.state = state
    let answer: ResultOf<'call.step'>
    try {
      answer = checkAnswer(await ctx.callStep(params))
    } catch (err) {
      log.warn({ err, event: input.event }, 'call.step failed: sorry path')
      return err instanceof AgentError ? err.code === AgentErrorCodes.BAD_ANSWER ? 'bad_answer' : 'no_server' : 'fault'
    }
    if (conn.hungUp) return 'hungup'
    let vars: Array<[string, string]>
    try {
      vars = stepVars(answer, ctx.paths)
    } catch (err) {
      log.warn({ err, action: answer.action }, 'call.step answer unusable: sorry path')
      return 'bad_answer'
    }
    if (newId) vars.unshift(['FED_CALLID', callId])
    await setAll(conn, vars)
    if (isStart) ctx.calls.add(callId)
    return 'ok'
  } catch (err) {
    if (err instanceof AgiHangupError) return 'hungup'
    throw err
  }
}

function seconds (text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined
  const n = Number(text)
  return Number.isFinite(n) && n >= 0 ? Math.min(n, 86400) : undefined
}

/** Handles `/end` (the hangup handler): reports call.end, spooling it when the tier cannot take it. */
export async function handleEnd (conn: AgiConnection, env: Record<string, string>, ctx: StepContext): Promise<string> {
  const [callId = '', cause = '', cdrDuration, cdrBillsec, elapsed] = args(env)
  if (!CALL_ID.test(callId)) return 'no_call'
  let state: string | undefined
  try {
    state = await conn.getVariable('FED_STATE')
  } catch (err) {
    // 511 (or any AGI trouble): report the end without the state rather than not at all.
    ctx.logger.debug({ err, callId }, 'FED_STATE unreadable at call end')
  }
  // Asterisk need not wait for the tier: the record is ours now (sent or spooled).
  conn.close()
  ctx.calls.delete(callId)
  const durationSec = seconds(cdrDuration) ?? seconds(elapsed) ?? 0
  const billSec = seconds(cdrBillsec) ?? Math.min(durationSec, seconds(elapsed) ?? 0)
  const record: CallEnd = { callId, instanceId: ctx.instanceId, cause: (cause || 'unknown').slice(0, 64), durationSec, billSec }
  if (state && state.length <= 8192) record.state = state
  await ctx.endCall(record)
  return 'ok'
}
