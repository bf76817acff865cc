import { performance } from 'node:perf_hooks'
import { FaultError, Faults, type FaultStruct } from '@federate/protocol'
import type { CallContext, RegisteredMethod, XmlRpcRegistry } from './registry.ts'
import { MULTICALL } from './system-methods.ts'
import { WireValueError, prepareWire, xmlSafe } from './wire-value.ts'

/** Called once per method call (each multicall entry too): for metrics. */
export type OnCall = (method: string, durationMs: number, faultCode?: number) => void

export interface InvokeOptions {
  onCall?: OnCall | undefined
  /** Most entries one system.multicall may carry. */
  maxMulticall: number
  /** Deepest result value (nesting of arrays/structs) a method may answer. */
  maxResultDepth: number
}

export type Outcome = { ok: true, value: unknown } | { ok: false, fault: FaultStruct }

/** The label onCall gets for a method name nobody registered (keeps metric cardinality bounded). */
export const UNKNOWN_METHOD = '(unknown)'

function fault (err: FaultError): Outcome {
  return { ok: false, fault: { faultCode: err.faultCode, faultString: xmlSafe(err.message) } }
}

function paramsFault (method: RegisteredMethod, value: unknown): Outcome {
  const problems: string[] = []
  for (const e of method.params.Errors(value)) {
    problems.push(`${e.instancePath === '' ? '/' : e.instancePath} ${e.message}`)
    if (problems.length === 3) break
  }
  return fault(new FaultError('INVALID_PARAMS', problems.join('; ')))
}

function report (opts: InvokeOptions, ctx: CallContext<unknown>, label: string, started: number, outcome: Outcome): Outcome {
  if (opts.onCall !== undefined) {
    try {
      opts.onCall(label, performance.now() - started, outcome.ok ? undefined : outcome.fault.faultCode)
    } catch (err) {
      ctx.log.warn({ err }, 'xmlrpc onCall hook threw')
    }
  }
  return outcome
}

/**
 * Runs one call: looks the method up, validates params, runs the handler, validates the
 * result and makes it serializable. Never throws: every failure is an Outcome with a fault.
 */
export async function invoke (registry: XmlRpcRegistry<any>, name: string, params: unknown[], ctx: CallContext<unknown>, opts: InvokeOptions): Promise<Outcome> {
  const started = performance.now()
  const method = registry.get(name)
  if (method === undefined) {
    const shown = /^[A-Za-z0-9_.:/]{1,128}$/.test(name) ? name : undefined
    return report(opts, ctx, UNKNOWN_METHOD, started, fault(new FaultError('METHOD_NOT_FOUND', shown)))
  }
  let args: unknown = params
  if (!method.positional) {
    if (params.length !== 1) {
      return report(opts, ctx, name, started, fault(new FaultError('INVALID_PARAMS', `${name} takes exactly one struct param, got ${params.length}`)))
    }
    args = params[0]
  }
  if (!method.params.Check(args)) return report(opts, ctx, name, started, paramsFault(method, args))

  if (name === MULTICALL) return report(opts, ctx, name, started, await multicall(registry, (args as unknown[][])[0]!, ctx, opts))

  let result: unknown
  try {
    result = await method.handler(args, ctx)
  } catch (err) {
    if (err instanceof FaultError) return report(opts, ctx, name, started, fault(err))
    ctx.log.error({ err, method: name }, 'xmlrpc method failed')
    return report(opts, ctx, name, started, fault(new FaultError('INTERNAL_ERROR')))
  }
  if (!method.result.Check(result)) {
    const problems = [...method.result.Errors(result)].slice(0, 3).map((e) => `${e.instancePath || '/'} ${e.message}`)
    ctx.log.error({ method: name, problems }, 'xmlrpc method returned a result that breaks its schema')
    return report(opts, ctx, name, started, fault(new FaultError('INTERNAL_ERROR')))
  }
  try {
    result = prepareWire(result, opts.maxResultDepth)
  } catch (err) {
    if (!(err instanceof WireValueError)) throw err
    ctx.log.error({ method: name, problem: err.message }, 'xmlrpc method returned a value XML-RPC cannot carry')
    return report(opts, ctx, name, started, fault(new FaultError('INTERNAL_ERROR')))
  }
  return report(opts, ctx, name, started, { ok: true, value: result })
}

function isEntry (value: unknown): value is { methodName: string, params: unknown[] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const v = value as { methodName?: unknown, params?: unknown }
  return typeof v.methodName === 'string' && Array.isArray(v.params)
}

// Entries run one after the other, in order, as the de-facto spec's clients expect.
async function multicall (registry: XmlRpcRegistry<any>, calls: unknown[], ctx: CallContext<unknown>, opts: InvokeOptions): Promise<Outcome> {
  if (calls.length > opts.maxMulticall) {
    return fault(new FaultError('INVALID_PARAMS', `system.multicall takes at most ${opts.maxMulticall} calls, got ${calls.length}`))
  }
  const out: unknown[] = []
  for (const entry of calls) {
    if (!isEntry(entry)) {
      out.push({ faultCode: Faults.INVALID_REQUEST.code, faultString: `${Faults.INVALID_REQUEST.text}: a multicall entry is a struct {methodName, params}` })
      continue
    }
    if (entry.methodName === MULTICALL) {
      out.push({ faultCode: Faults.INVALID_REQUEST.code, faultString: `${Faults.INVALID_REQUEST.text}: system.multicall may not be nested` })
      continue
    }
    const outcome = await invoke(registry, entry.methodName, entry.params, { ...ctx, method: entry.methodName }, opts)
    out.push(outcome.ok ? [outcome.value] : outcome.fault)
  }
  return { ok: true, value: out }
}
