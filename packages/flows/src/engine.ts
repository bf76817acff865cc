import { ActionArgs, EventData, type Action, type ActionName, type CallEvent } from '@federate/protocol'
import { Compile } from 'typebox/compile'
import { CALLER_ID, CALLER_ID_VALUE, DIAL_TO, DIAL_VALUE, EXTENSION, EXTENSION_VALUE } from './dial-string.ts'
import { isSafePromptName } from './prompts.ts'
import { compilePattern } from './regex.ts'
import { DEFAULTS, type ConditionNode, type Flow, type FlowNode, type GatherNode, type HttpNode } from './schema.ts'
import type { FlowState } from './state.ts'
import { lookup, render, type Vars } from './template.ts'
import { checkUrl } from './url-allow.ts'

// The pure engine: (flow, state, event) -> next action + new state. No I/O, no clock, no throw:
// anything unexpected (a dialplan error, an event that does not fit the current node, a loop
// that never reaches the caller) ends the call with a hangup and an `error` result.

/** Bounds that keep one call from running away. */
export interface EngineLimits {
  /** Pass-through nodes (set, condition, http, ...) resolved within one step. */
  maxHops: number
  /** Events handled over the whole call. */
  maxSteps: number
  /** Web hook requests within one step. */
  maxHttp: number
  /** Variables a call may hold. */
  maxVars: number
  /** Longest value kept in a variable (longer values are cut). */
  maxVarLength: number
  /** All variables together, as JSON: they travel in the state token on every step. */
  maxVarsBytes: number
}

export const DEFAULT_LIMITS: EngineLimits = Object.freeze({
  maxHops: 100, maxSteps: 1000, maxHttp: 3, maxVars: 48, maxVarLength: 256, maxVarsBytes: 2048,
})

/** Q.850 causes: 16 normal clearing; 41 temporary failure, for the error fallback. */
export const CAUSE_NORMAL = 16
export const CAUSE_ERROR = 41

export interface StepContext {
  /** The call id; kept in the state at start and used in recording file names. */
  callId?: string
  /** The AGI environment (without `agi_`); a few names become variables at start. */
  channel?: Record<string, string>
  /** Variables the call starts with (a campaign contact's fields); they override channel ones. */
  vars?: Record<string, string>
  /** Stored in the state at start for the caller (e.g. the flow's id@version). */
  ref?: string
  /** When given, web hook URLs outside it go straight to onError instead of to the caller. */
  httpAllowList?: readonly string[]
  limits?: Partial<EngineLimits>
}

/** Channel fields that become variables at start. */
export const CHANNEL_VARS = ['callerid', 'calleridname', 'extension', 'dnid', 'rdnis', 'uniqueid', 'channel', 'language', 'context', 'accountcode'] as const

/** An answer to persist (a survey choice, a recording, a dial or AMD outcome, a web hook answer, an error). */
export interface FlowResult {
  node: string
  key: string
  value: string
  type: 'gather' | 'record' | 'dial' | 'amd' | 'http' | 'error'
  durationSec?: number
}

export type ActionStep = Action & {
  kind: 'action'
  state: FlowState
  /** Channel variables for the dialplan to set (FED_VAR_<name>); only on goto. */
  vars?: Record<string, string>
  results: FlowResult[]
  /** True when the action ends the flow (hangup, goto). */
  done: boolean
}

export interface HttpRequest {
  url: string
  method: 'GET' | 'POST'
  timeoutMs: number
  headers: Record<string, string>
  body?: string
}

/** The engine asks the caller to perform a web hook request, then to call resumeHttp. */
export interface HttpStep {
  kind: 'http'
  request: HttpRequest
  state: FlowState
  results: FlowResult[]
  done: false
}

export type StepResult = ActionStep | HttpStep

/** What the caller got from a web hook: a response, or an error (timeout, refused, not allowed). */
export type HttpOutcome = { status: number, body?: string } | { error: string, timeout?: boolean }

const argCheckers = Object.fromEntries(
  Object.entries(ActionArgs).map(([name, schema]) => [name, Compile(schema)])
) as unknown as Record<ActionName, ReturnType<typeof Compile>>
const eventCheckers = Object.fromEntries(
  Object.entries(EventData).map(([name, schema]) => [name, Compile(schema)])
) as unknown as Record<CallEvent['event'], ReturnType<typeof Compile>>

const VAR_NAME = /^(?!__proto__$)[A-Za-z0-9_]{1,64}$/
const ALL_DIGITS = '0123456789*#'

/** Thrown inside the engine only; step/resumeHttp turn it into the error fallback. */
class FlowFault extends Error {}

interface Run {
  flow: Flow
  s: FlowState
  results: FlowResult[]
  ctx: StepContext
  limits: EngineLimits
  hops: number
  http: number
}

function has (obj: object | undefined, key: string): boolean {
  return obj !== undefined && Object.hasOwn(obj, key)
}

function setVar (run: Run, name: string, value: string): void {
  if (!VAR_NAME.test(name)) throw new FlowFault(`invalid variable name '${name}'`)
  if (!has(run.s.vars, name) && Object.keys(run.s.vars).length >= run.limits.maxVars) {
    throw new FlowFault(`more than ${run.limits.maxVars} variables`)
  }
  run.s.vars[name] = value.slice(0, run.limits.maxVarLength)
}

function result (run: Run, r: FlowResult): void {
  run.results.push(r)
}

function limitsOf (ctx: StepContext): EngineLimits {
  return { ...DEFAULT_LIMITS, ...ctx.limits }
}

// Copies, so a caller's state object is never changed (the same token may be replayed).
function copyState (state: FlowState): FlowState {
  const s: FlowState = { node: state.node, retries: state.retries, vars: { ...state.vars }, steps: state.steps }
  if (state.done !== undefined) s.done = state.done
  if (state.ref !== undefined) s.ref = state.ref
  if (state.call !== undefined) s.call = state.call
  return s
}

// -- endings ---------------------------------------------------------------------------------

function terminal (run: Run, done: 'hangup' | 'goto', action: Action, vars?: Record<string, string>): ActionStep {
  // A finished call keeps no variables: the state stays small and says only that it is over.
  const state: FlowState = { ...copyState(run.s), vars: {}, retries: 0, done }
  return { kind: 'action', ...action, state, results: run.results, done: true, ...(vars ? { vars } : {}) }
}

function hangup (run: Run, cause: number): ActionStep {
  return terminal(run, 'hangup', { action: 'hangup', args: { cause } })
}

function fail (run: Run, message: string): ActionStep {
  result(run, { node: run.s.node, key: 'error', value: message.slice(0, 1000), type: 'error' })
  return hangup(run, CAUSE_ERROR)
}

function guard (run: Run, body: () => StepResult): StepResult {
  try {
    return body()
  } catch (err) {
    return fail(run, err instanceof FlowFault ? err.message : `engine error: ${(err as Error)?.message ?? String(err)}`)
  }
}

// -- actions ---------------------------------------------------------------------------------

function emit (run: Run, action: Action): ActionStep {
  if (!argCheckers[action.action].Check(action.args)) {
    const first = [...argCheckers[action.action].Errors(action.args)][0]
    throw new FlowFault(`node '${run.s.node}' produced invalid ${action.action} arguments: ${first?.instancePath ?? ''} ${first?.message ?? ''}`.trim())
  }
  const size = JSON.stringify(run.s.vars).length
  if (size > run.limits.maxVarsBytes) throw new FlowFault(`variables take ${size} bytes, more than ${run.limits.maxVarsBytes}`)
  return { kind: 'action', ...action, state: copyState(run.s), results: run.results, done: false }
}

function prompts (run: Run, names: string[]): string[] {
  return names.map((p) => {
    const name = render(p, run.s.vars)
    if (!isSafePromptName(name)) throw new FlowFault(`prompt '${name.slice(0, 80)}' is not a safe file name`)
    return name
  })
}

function checked (pattern: RegExp, what: string) {
  return (value: string) => {
    if (!pattern.test(value)) throw new FlowFault(`${what} refuses the value '${value.slice(0, 40)}'`)
    return value
  }
}

function maxDigitsOf (node: GatherNode): number {
  if (node.maxDigits !== undefined) return node.maxDigits
  const choices = [...Object.keys(node.branches ?? {}), ...(Array.isArray(node.validDigits) ? node.validDigits : [])]
  return choices.length > 0 && node.next === undefined ? Math.max(...choices.map((c) => c.length)) : DEFAULTS.gather.freeMaxDigits
}

function gatherAction (run: Run, node: GatherNode, lead?: string): Action {
  return {
    action: 'gather',
    args: {
      prompts: prompts(run, lead === undefined ? node.prompts : [lead, ...node.prompts]),
      maxDigits: maxDigitsOf(node),
      timeoutSec: node.timeoutSec ?? DEFAULTS.gather.timeoutSec,
    },
  }
}

// The action that makes the dialplan perform an interactive node.
function actionFor (run: Run, id: string, node: FlowNode): Action {
  switch (node.type) {
    case 'play': {
      const escapeDigits = node.escapeDigits ?? (node.interruptible === true ? ALL_DIGITS : Object.keys(node.digits ?? {}).join(''))
      return { action: 'play', args: { prompts: prompts(run, node.prompts), escapeDigits } }
    }
    case 'gather':
    case 'menu':
      return gatherAction(run, node)
    case 'dial': {
      const to = render(node.to, run.s.vars, checked(DIAL_VALUE, 'dial string'))
      if (!DIAL_TO.test(to)) throw new FlowFault(`dial string '${to.slice(0, 80)}' is not allowed`)
      const args: Extract<Action, { action: 'dial' }>['args'] = { to, timeoutSec: node.timeoutSec ?? DEFAULTS.dial.timeoutSec }
      if (node.callerId !== undefined) {
        const callerId = render(node.callerId, run.s.vars, checked(CALLER_ID_VALUE, 'caller id'))
        if (!CALLER_ID.test(callerId)) throw new FlowFault(`caller id '${callerId.slice(0, 80)}' is not allowed`)
        args.callerId = callerId
      }
      return { action: 'dial', args }
    }
    case 'record': {
      // Unique per call and step; only the characters the protocol allows in a file name.
      const call = run.s.call ?? (lookup(run.s.vars, 'uniqueid') || 'call')
      const file = `${node.file ?? DEFAULTS.record.file}-${call.slice(-48)}-${id.slice(0, 24)}-${run.s.steps}`.replace(/[^A-Za-z0-9_.-]/g, '_')
      return {
        action: 'record',
        args: {
          file,
          format: node.format ?? DEFAULTS.record.format,
          maxSec: node.maxSec ?? DEFAULTS.record.maxSec,
          silenceSec: node.silenceSec ?? DEFAULTS.record.silenceSec,
          beep: node.beep ?? DEFAULTS.record.beep,
        },
      }
    }
    case 'wait':
      return { action: 'wait', args: { seconds: node.seconds ?? DEFAULTS.wait.seconds } }
    case 'amd':
      return {
        action: 'amd',
        args: {
          initialSilenceMs: node.initialSilenceMs ?? DEFAULTS.amd.initialSilenceMs,
          greetingMs: node.greetingMs ?? DEFAULTS.amd.greetingMs,
          totalAnalysisMs: node.totalAnalysisMs ?? DEFAULTS.amd.totalAnalysisMs,
        },
      }
    default:
      throw new FlowFault(`node '${id}' of type ${node.type} has no action`)
  }
}

// -- pass-through nodes ----------------------------------------------------------------------

function numberOf (text: string): number {
  return text.trim() === '' ? NaN : Number(text)
}

function evaluate (run: Run, node: ConditionNode): string | undefined {
  const operand = (v: string | number) => typeof v === 'number' ? String(v) : render(v, run.s.vars)
  for (const w of node.when) {
    const value = lookup(run.s.vars, w.var)
    let hit = false
    if (w.op === 'in') {
      hit = (Array.isArray(w.value) ? w.value : [w.value]).map(operand).includes(value)
    } else if (!Array.isArray(w.value)) {
      switch (w.op) {
        case 'eq': hit = value === operand(w.value); break
        case 'ne': hit = value !== operand(w.value); break
        case 'lt': hit = numberOf(value) < numberOf(operand(w.value)); break
        case 'gt': hit = numberOf(value) > numberOf(operand(w.value)); break
        // The pattern is taken literally (no templates), so a caller cannot supply a regex.
        case 'matches': hit = compilePattern(String(w.value), false).test(value); break
      }
    }
    if (hit) return w.next
  }
  return node.else
}

function httpRequest (run: Run, node: HttpNode): HttpRequest {
  const url = render(node.url, run.s.vars, encodeURIComponent)
  const method = node.method ?? 'GET'
  const request: HttpRequest = { url, method, timeoutMs: node.timeoutMs ?? DEFAULTS.http.timeoutMs, headers: { accept: 'application/json' } }
  if (method === 'POST') {
    const fields = node.body === undefined
      ? run.s.vars
      : Object.fromEntries(Object.entries(node.body).map(([k, v]) => [k, render(v, run.s.vars)]))
    request.headers['content-type'] = 'application/json'
    request.body = JSON.stringify(fields)
  }
  return request
}

// Applies a web hook's outcome to the variables; returns where the call goes.
function applyHttp (run: Run, id: string, node: HttpNode, outcome: HttpOutcome): string | undefined {
  const ok = 'status' in outcome && Number.isInteger(outcome.status) && outcome.status >= 200 && outcome.status < 300
  const name = node.saveAs
  if ('status' in outcome && name !== undefined) setVar(run, `${name}_status`, String(outcome.status))
  if (!ok) {
    const reason = 'status' in outcome ? `status ${outcome.status}` : outcome.timeout === true ? 'timeout' : `error: ${outcome.error}`
    if (name !== undefined) setVar(run, `${name}_error`, reason)
    return node.onError ?? node.next
  }
  if (name !== undefined) {
    const body = (outcome.body ?? '').trim()
    setVar(run, name, body)
    // A JSON object's scalar members become <saveAs>_<member> (at most 16, valid names only).
    let parsed: unknown
    try { parsed = JSON.parse(body) } catch { parsed = undefined }
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      let n = 0
      for (const [k, v] of Object.entries(parsed)) {
        if (n >= 16) break
        if (!['string', 'number', 'boolean'].includes(typeof v) || !VAR_NAME.test(`${name}_${k}`)) continue
        setVar(run, `${name}_${k}`, String(v))
        n++
      }
    }
    result(run, { node: id, key: name, value: body.slice(0, run.limits.maxVarLength), type: 'http' })
  }
  return node.next
}

// Walks from `target` through pass-through nodes to the next action (or http request).
function advance (run: Run, target: string | undefined): StepResult {
  for (;;) {
    if (target === undefined) return hangup(run, CAUSE_NORMAL)
    if (!has(run.flow.nodes, target)) throw new FlowFault(`node '${target}' does not exist`)
    if (++run.hops > run.limits.maxHops) throw new FlowFault(`more than ${run.limits.maxHops} nodes without caller interaction`)
    const node = run.flow.nodes[target]!
    run.s.node = target
    run.s.retries = 0
    switch (node.type) {
      case 'set':
        // Every value is rendered against the variables as they were before this node.
        for (const [name, value] of Object.entries(node.vars).map(([k, v]) => [k, render(v, run.s.vars)] as const)) setVar(run, name, value)
        target = node.next
        continue
      case 'condition':
        target = evaluate(run, node)
        continue
      case 'http': {
        const request = httpRequest(run, node)
        if (run.ctx.httpAllowList !== undefined) {
          const check = checkUrl(request.url, run.ctx.httpAllowList)
          if (!check.ok) { target = applyHttp(run, target, node, { error: check.reason }); continue }
        }
        if (run.http >= run.limits.maxHttp) throw new FlowFault(`more than ${run.limits.maxHttp} web hook requests in one step`)
        const state: FlowState = { ...copyState(run.s), await: 'http', hops: run.hops, http: run.http + 1 }
        return { kind: 'http', request, state, results: run.results, done: false }
      }
      case 'hangup':
        return hangup(run, node.cause ?? DEFAULTS.hangup.cause)
      case 'goto': {
        const extension = render(node.extension, run.s.vars, checked(EXTENSION_VALUE, 'extension'))
        if (!EXTENSION.test(extension)) throw new FlowFault(`extension '${extension.slice(0, 80)}' is not allowed`)
        const action: Action = { action: 'goto', args: { context: node.context, extension, priority: node.priority ?? DEFAULTS.goto.priority } }
        if (!argCheckers.goto.Check(action.args)) throw new FlowFault(`node '${target}' produced invalid goto arguments`)
        return terminal(run, 'goto', action, exportVars(run.s.vars))
      }
      default:
        return emit(run, actionFor(run, target, node))
    }
  }
}

// The flow's own variables for the local context a goto hands the call to (the protocol's Vars).
function exportVars (vars: Vars): Record<string, string> {
  const channel = new Set<string>(CHANNEL_VARS)
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(vars)) {
    if (Object.keys(out).length >= 32) break
    if (!channel.has(k)) out[k] = v.slice(0, 1024)
  }
  return out
}

// -- events ----------------------------------------------------------------------------------

function onGatherMiss (run: Run, node: GatherNode, kind: 'noInput' | 'invalid'): StepResult {
  if (run.s.retries < (node.retries ?? DEFAULTS.gather.retries)) {
    run.s.retries++
    return emit(run, gatherAction(run, node, kind === 'noInput' ? node.noInputPrompt : node.invalidPrompt))
  }
  // Out of retries: each branch falls back to the other, then to the end of the call.
  return advance(run, kind === 'noInput' ? node.noInput ?? node.invalid : node.invalid ?? node.noInput)
}

function onDigits (run: Run, id: string, node: GatherNode, raw: string): StepResult {
  const finishKey = node.finishKey ?? DEFAULTS.gather.finishKey
  const digits = finishKey !== '' && raw.includes(finishKey) ? raw.slice(0, raw.indexOf(finishKey)) : raw
  if (digits === '') return onGatherMiss(run, node, 'noInput')
  let valid = true
  if (Array.isArray(node.validDigits)) valid = node.validDigits.includes(digits)
  else if (typeof node.validDigits === 'string') valid = compilePattern(node.validDigits, true).test(digits)
  const target = has(node.branches, digits) ? node.branches![digits] : node.next
  if (!valid || target === undefined) return onGatherMiss(run, node, 'invalid')
  if (node.saveAs !== undefined) {
    setVar(run, node.saveAs, digits)
    result(run, { node: id, key: node.saveAs, value: digits, type: 'gather' })
  }
  return advance(run, target)
}

function onEvent (run: Run, event: CallEvent): StepResult {
  const id = run.s.node
  if (!has(run.flow.nodes, id)) throw new FlowFault(`the state points to node '${id}', which this flow does not have`)
  const node = run.flow.nodes[id]!
  const mismatch = () => new FlowFault(`event '${event.event}' does not fit node '${id}' (${node.type})`)
  switch (event.event) {
    case 'played':
      if (node.type !== 'play') throw mismatch()
      return advance(run, event.data.digit && has(node.digits, event.data.digit) ? node.digits![event.data.digit] : node.next)
    case 'digits':
      if (node.type !== 'gather' && node.type !== 'menu') throw mismatch()
      return onDigits(run, id, node, event.data.digits)
    case 'dialed': {
      if (node.type !== 'dial') throw mismatch()
      const status = event.data.status
      if (node.saveAs !== undefined) setVar(run, node.saveAs, status)
      result(run, {
        node: id, key: node.saveAs ?? id, value: status, type: 'dial', ...(event.data.answeredSec === undefined ? {} : { durationSec: event.data.answeredSec }),
      })
      return advance(run, node.branches?.[status] ?? node.next)
    }
    case 'recorded': {
      if (node.type !== 'record') throw mismatch()
      const file = event.data.file
      if (node.saveAs !== undefined) setVar(run, node.saveAs, file)
      result(run, { node: id, key: node.saveAs ?? id, value: file, type: 'record', durationSec: event.data.durationSec })
      return advance(run, node.next)
    }
    case 'waited':
      if (node.type !== 'wait') throw mismatch()
      return advance(run, node.next)
    case 'amd': {
      if (node.type !== 'amd') throw mismatch()
      const status = event.data.status
      if (node.saveAs !== undefined) setVar(run, node.saveAs, status)
      result(run, { node: id, key: node.saveAs ?? id, value: status, type: 'amd' })
      return advance(run, node.branches?.[status] ?? node.next)
    }
    case 'error':
      throw new FlowFault(`dialplan error at node '${id}': ${String(event.data.message).slice(0, 500)}`)
    case 'start':
      throw new FlowFault('start event for a call that has already started')
  }
}

function startVars (ctx: StepContext, limits: EngineLimits): Vars {
  const vars: Vars = {}
  const add = (k: string, v: unknown) => {
    if (VAR_NAME.test(k) && typeof v === 'string' && Object.keys(vars).length < limits.maxVars) vars[k] = v.slice(0, limits.maxVarLength)
  }
  for (const k of CHANNEL_VARS) if (has(ctx.channel, k)) add(k, ctx.channel![k])
  for (const [k, v] of Object.entries(ctx.vars ?? {})) add(k, v)
  return vars
}

/**
 * Advances a call by one event. `state` is undefined for the `start` event, which begins at
 * `flow.start` with the channel's variables. Returns the dialplan's next action with the new
 * state and the results to persist, or an http directive (perform it, then call resumeHttp).
 * Never throws: errors end the call with hangup (cause 41) and an `error` result.
 */
export function step (flow: Flow, state: FlowState | undefined | null, event: CallEvent, ctx: StepContext = {}): StepResult {
  const limits = limitsOf(ctx)
  const fresh: FlowState = { node: '', retries: 0, vars: {}, steps: 0 }
  const run: Run = { flow, s: state ? copyState(state) : fresh, results: [], ctx, limits, hops: 0, http: 0 }
  run.s.steps++
  return guard(run, () => {
    if (run.s.done !== undefined) return hangup({ ...run, results: [] }, CAUSE_NORMAL)
    if (!eventCheckers[event?.event]?.Check(event.data)) throw new FlowFault(`malformed event ${JSON.stringify(event?.event)}`)
    if (state == null) {
      if (event.event !== 'start') throw new FlowFault(`event '${event.event}' arrived without a state`)
      run.s.vars = startVars(ctx, limits)
      if (ctx.callId !== undefined) run.s.call = ctx.callId
      if (ctx.ref !== undefined) run.s.ref = ctx.ref
      return advance(run, flow.start)
    }
    if (state.await !== undefined) throw new FlowFault(`event '${event.event}' while a web hook answer is awaited`)
    if (run.s.steps > limits.maxSteps) throw new FlowFault(`more than ${limits.maxSteps} steps`)
    return onEvent(run, event)
  })
}

/**
 * Continues a flow after the http directive of `step` (or of an earlier resumeHttp): `outcome`
 * is the response or the error. A non-2xx status, a timeout or an error goes to `onError`
 * (default `next`). May return another http directive when hooks follow each other.
 */
export function resumeHttp (flow: Flow, state: FlowState, outcome: HttpOutcome, ctx: StepContext = {}): StepResult {
  const limits = limitsOf(ctx)
  const run: Run = { flow, s: copyState(state), results: [], ctx, limits, hops: state.hops ?? 0, http: state.http ?? 0 }
  return guard(run, () => {
    if (state.await !== 'http') throw new FlowFault('resumeHttp without a web hook request pending')
    const node = has(flow.nodes, state.node) ? flow.nodes[state.node]! : undefined
    if (node?.type !== 'http') throw new FlowFault(`the state points to node '${state.node}', which is not an http node`)
    return advance(run, applyHttp(run, state.node, node, outcome))
  })
}
