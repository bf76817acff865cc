import { Counter, Gauge, Histogram, Registry } from 'prom-client'

// One registry per agent (never prom-client's global one), so a simulated fleet can run many
// agents in one process.

export interface AgentMetrics {
  registry: Registry
  /** Whole AGI step, from the connection to its close (labels: script, outcome). */
  step: Histogram<'script' | 'outcome'>
  /** One XML-RPC call including failover (labels: method, outcome). */
  tier: Histogram<'method' | 'outcome'>
  /** Attempts per server (labels: server, outcome). */
  attempts: Counter<'server' | 'outcome'>
  originates: Counter<'outcome'>
  spooled: Gauge
  activeCalls: Gauge
}

export function createAgentMetrics (): AgentMetrics {
  const registry = new Registry()
  const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
  return {
    registry,
    step: new Histogram({ name: 'federate_agent_step_seconds', help: 'AGI requests, connection to close', labelNames: ['script', 'outcome'], buckets, registers: [registry] }),
    tier: new Histogram({ name: 'federate_agent_tier_call_seconds', help: 'XML-RPC calls to the app tier, failover included', labelNames: ['method', 'outcome'], buckets, registers: [registry] }),
    attempts: new Counter({ name: 'federate_agent_tier_attempts_total', help: 'XML-RPC attempts per app server', labelNames: ['server', 'outcome'], registers: [registry] }),
    originates: new Counter({ name: 'federate_agent_originates_total', help: 'AMI originates by outcome', labelNames: ['outcome'], registers: [registry] }),
    spooled: new Gauge({ name: 'federate_agent_spooled_call_ends', help: 'call ends waiting in the spool', registers: [registry] }),
    activeCalls: new Gauge({ name: 'federate_agent_active_calls', help: 'live calls on this instance', registers: [registry] }),
  }
}
