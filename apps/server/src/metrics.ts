import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** One registry per app (not prom-client's global one: tests build several apps in one process). */
export function createMetrics () {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'federate_' })
  return {
    registry,
    rpcDuration: new Histogram({
      name: 'federate_rpc_duration_seconds',
      help: 'XML-RPC method latency',
      labelNames: ['method', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    steps: new Counter({ name: 'federate_call_steps_total', help: 'call.step answers by action', labelNames: ['action'], registers: [registry] }),
    calls: new Counter({ name: 'federate_calls_total', help: 'calls started and ended', labelNames: ['event', 'direction'], registers: [registry] }),
    authFailures: new Counter({ name: 'federate_auth_failures_total', help: 'rejected credentials', labelNames: ['kind'], registers: [registry] }),
  }
}

export type Metrics = ReturnType<typeof createMetrics>
