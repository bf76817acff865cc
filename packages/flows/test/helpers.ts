import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { ActionArgs, Vars, type CallEvent } from '@federate/protocol'
import { Compile } from 'typebox/compile'
import { resumeHttp, step, validateFlow, type Flow, type FlowState, type StepContext, type StepResult } from '../src/index.ts'

type AnyNode = Record<string, unknown> & { type: string }

/** A flow document around some nodes; `start` defaults to the first node. */
export function doc (nodes: Record<string, AnyNode>, start = Object.keys(nodes)[0]!): Record<string, unknown> {
  return { format: 'federate.flow/1', name: 'test', start, nodes }
}

/** A validated flow; fails the test when the definition is rejected. */
export function flowOf (nodes: Record<string, AnyNode>, start?: string): Flow {
  const v = validateFlow(doc(nodes, start))
  assert.ok(v.ok, v.ok ? '' : JSON.stringify(v.errors))
  return v.flow
}

export function example (name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../../../examples/flows/${name}.json`, import.meta.url), 'utf8'))
}

const checkers = Object.fromEntries(Object.entries(ActionArgs).map(([k, s]) => [k, Compile(s)]))
const varsCheck = Compile(Vars)

/** Asserts that a step result is something call.step may answer: a protocol-valid action. */
export function assertProtocolValid (r: StepResult): void {
  if (r.kind === 'http') {
    assert.match(r.request.url, /^https?:\/\//)
    assert.equal(r.state.await, 'http')
    return
  }
  const checker = checkers[r.action]
  assert.ok(checker, `unknown action ${r.action}`)
  assert.ok(checker.Check(r.args), `${r.action} args ${JSON.stringify(r.args)}: ${JSON.stringify([...checker.Errors(r.args)])}`)
  if (r.vars !== undefined) assert.ok(varsCheck.Check(r.vars), `vars ${JSON.stringify(r.vars)}`)
  assert.equal(r.done, r.action === 'hangup' || r.action === 'goto')
  assert.equal(r.state.await, undefined)
}

export const start: CallEvent = { event: 'start', data: {} }
export const played = (digit?: string): CallEvent => ({ event: 'played', data: digit === undefined ? {} : { digit } })
export const digits = (d: string, status: 'ok' | 'timeout' = d === '' ? 'timeout' : 'ok'): CallEvent => ({ event: 'digits', data: { digits: d, status } })
export const dialed = (status: 'ANSWER' | 'BUSY' | 'NOANSWER' | 'CANCEL' | 'CONGESTION' | 'CHANUNAVAIL', answeredSec?: number): CallEvent =>
  ({ event: 'dialed', data: answeredSec === undefined ? { status } : { status, answeredSec } })
export const recorded = (file: string, durationSec: number): CallEvent => ({ event: 'recorded', data: { file, durationSec } })
export const waited: CallEvent = { event: 'waited', data: {} }
export const amd = (status: 'HUMAN' | 'MACHINE' | 'NOTSURE'): CallEvent => ({ event: 'amd', data: { status } })
export const failed = (message: string): CallEvent => ({ event: 'error', data: { message } })

/** A call in progress: feeds events one by one, checking every answer against the protocol. */
export class Call {
  state: FlowState | undefined
  last!: StepResult
  readonly results: StepResult['results'] = []
  constructor (readonly flow: Flow, readonly ctx: StepContext = {}) {}

  send (event: CallEvent): StepResult {
    return this.keep(step(this.flow, this.state, event, this.ctx))
  }

  http (outcome: Parameters<typeof resumeHttp>[2]): StepResult {
    assert.ok(this.state, 'no state')
    return this.keep(resumeHttp(this.flow, this.state, outcome, this.ctx))
  }

  private keep (r: StepResult): StepResult {
    assertProtocolValid(r)
    this.state = r.state
    this.last = r
    this.results.push(...r.results)
    return r
  }
}

/** The action name and args of a step, for compact assertions. */
export function act (r: StepResult): { action: string, args: unknown } | { http: unknown } {
  return r.kind === 'http' ? { http: r.request } : { action: r.action, args: r.args }
}
