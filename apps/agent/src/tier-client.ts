import type { Logger } from 'pino'
import type { MethodName, ParamsOf, ResultOf } from '@federate/protocol'
import { createXmlRpcClient } from '@federate/xmlrpc/client'
import { CircuitBreaker, type BreakerState } from './circuit-breaker.ts'
import { AgentError, AgentErrorCodes } from './errors.ts'
import type { AgentMetrics } from './metrics.ts'

// The agent's view of the app tier: a list of servers (or one load balancer), each with its own
// kept-alive XML-RPC client and circuit breaker. A call goes to the next server in round-robin
// order whose circuit allows it, and is resent once to another server when that is safe:
// when nothing was sent (connect refused or timed out), on a retryable fault (RETRYABLE_FAULTS),
// or, for idempotent methods, after any transport failure.

/** The part of @federate/xmlrpc's client the agent uses. */
export interface RpcClient {
  call: (method: string, params: Record<string, unknown>) => Promise<unknown>
  close: () => Promise<void>
}

export interface RpcClientOptions { url: string, token: string, timeoutMs: number, connectTimeoutMs: number }
export type RpcClientFactory = (opts: RpcClientOptions) => RpcClient

export interface TierClientOptions {
  servers: readonly string[]
  token: string
  timeoutMs: number
  connectTimeoutMs: number
  breakerFailures: number
  breakerCooldownMs: number
  /** Attempts per call, each on another server when there is one. Default 2. */
  attempts?: number
  createClient?: RpcClientFactory
  logger: Logger
  metrics?: AgentMetrics
  now?: () => number
}

/**
 * Methods a second delivery cannot harm (keyed by call id, or pure reads and reports). call.step
 * is one: the answer is a pure function of the flow version, the state token and the event, and
 * its writes (the call's start, its results) ignore duplicates. So a step lost with a dying
 * server is resent to another one instead of ending the call; the one thing that may then happen
 * twice is a flow's web hook (docs/flows.md: hooks are delivered at least once).
 */
const IDEMPOTENT = new Set<string>(['call.step', 'call.end', 'instance.heartbeat', 'storage.manifest'])

interface Server { url: string, client: RpcClient, breaker: CircuitBreaker }

interface Classified { retry: boolean, healthy: boolean, outcome: string }

function classify (err: unknown, idempotent: boolean): Classified {
  const e = err as { faultCode?: unknown, retryable?: unknown, sentMaybe?: unknown, code?: unknown }
  if (typeof e?.faultCode === 'number') {
    // The server answered: it is alive, whatever the fault says about its dependencies.
    return { retry: e.retryable === true, healthy: true, outcome: `fault_${e.faultCode}` }
  }
  if (e?.code === 'FED_XMLRPC_BAD_PARAMS') return { retry: false, healthy: true, outcome: 'bad_params' }
  const sentMaybe = e?.sentMaybe !== false
  return { retry: !sentMaybe || (idempotent && e?.retryable !== false), healthy: false, outcome: String(e?.code ?? 'error').replace(/^FED_XMLRPC_/, '').toLowerCase() }
}

export class TierClient {
  private readonly servers: Server[]
  private next = 0
  private closed = false
  private readonly opts: TierClientOptions
  private readonly log: Logger

  constructor (opts: TierClientOptions) {
    if (opts.servers.length === 0) throw new TypeError('at least one app server URL is needed')
    this.opts = opts
    this.log = opts.logger
    const factory = opts.createClient ?? ((o: RpcClientOptions) => createXmlRpcClient(o) as RpcClient)
    this.servers = opts.servers.map((url) => ({
      url,
      client: factory({ url, token: opts.token, timeoutMs: opts.timeoutMs, connectTimeoutMs: opts.connectTimeoutMs }),
      breaker: new CircuitBreaker({ failures: opts.breakerFailures, cooldownMs: opts.breakerCooldownMs, now: opts.now }),
    }))
  }

  /** Each server's circuit, for logs, metrics and tests. */
  status (): Array<{ url: string, state: BreakerState }> {
    return this.servers.map((s) => ({ url: s.url, state: s.breaker.current }))
  }

  /** The next server (round-robin) whose circuit lets a call through, skipping those in `tried`. */
  private pick (tried: Set<Server>): Server | undefined {
    const n = this.servers.length
    for (let i = 0; i < n; i++) {
      const s = this.servers[(this.next + i) % n]!
      if (tried.has(s)) continue
      if (s.breaker.tryAcquire()) {
        this.next = (this.next + i + 1) % n
        return s
      }
    }
    return undefined
  }

  /**
   * Calls a protocol method. Rejects with the server's XmlRpcFaultError when the fault is final
   * (or the retries ran out on faults), else with AgentError FED_AGENT_NO_SERVER.
   */
  async call<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> {
    if (this.closed) throw new AgentError(AgentErrorCodes.CLOSED, 'the tier client is closed')
    const started = performance.now()
    const idempotent = IDEMPOTENT.has(method)
    const maxAttempts = this.opts.attempts ?? 2
    const tried = new Set<Server>()
    let lastError: unknown
    let outcome = 'no_server'
    try {
      for (let attempt = 0; attempt < maxAttempts; attempt++) {
        // A single server (a load balancer) may be tried again; several: always another one.
        const server = this.pick(this.servers.length > 1 ? tried : new Set())
        if (server === undefined) break
        tried.add(server)
        try {
          const result = await server.client.call(method, params as Record<string, unknown>)
          server.breaker.success()
          this.opts.metrics?.attempts.inc({ server: server.url, outcome: 'ok' })
          outcome = 'ok'
          return result as ResultOf<M>
        } catch (err) {
          lastError = err
          const c = classify(err, idempotent)
          if (c.healthy) server.breaker.success()
          else server.breaker.failure()
          this.opts.metrics?.attempts.inc({ server: server.url, outcome: c.outcome })
          outcome = c.outcome
          this.log.debug({ err, server: server.url, method, attempt }, 'app server call failed')
          if (!c.retry) throw err
        }
      }
      if (lastError !== undefined && typeof (lastError as { faultCode?: unknown }).faultCode === 'number') throw lastError
      throw new AgentError(AgentErrorCodes.NO_SERVER, lastError === undefined
        ? `${method}: every app server's circuit is open`
        : `${method}: no app server answered (${(lastError as Error).message})`, { cause: lastError })
    } finally {
      this.opts.metrics?.tier.observe({ method, outcome }, (performance.now() - started) / 1000)
    }
  }

  /** Closes every server's client (aborting calls in flight). Idempotent. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.allSettled(this.servers.map((s) => s.client.close()))
  }
}
