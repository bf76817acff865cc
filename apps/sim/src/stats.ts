// Counters an instance keeps; the fleet adds them up. Plain numbers, no timers: reading
// stats is the caller's business (the CLI prints them every few seconds).

export interface SimStats {
  /** Calls that entered the dialplan or were attempted, by direction. */
  started: { inbound: number, outbound: number }
  /** Originate outcomes: answer, busy, noanswer, congestion, unavailable, rejected (at capacity). */
  originate: Record<string, number>
  /** Calls ended, by how: hangup (the flow), caller (the far end hung up), sorry, goto, ami, cut (shutdown), failed (never answered). */
  ended: Record<string, number>
  /** Inbound calls refused because the instance was full or stopping. */
  inboundRejected: number
  steps: number
  agiSessions: number
  /** AGI invocations that could not reach the agent or timed out (AGISTATUS=FAILURE). */
  agiErrors: number
  /** Calls that took the sorry path. */
  sorry: number
  missingPrompts: number
  recordings: number
  /** Outcomes of dial actions. */
  dial: Record<string, number>
  /** Outcomes of amd actions. */
  amd: Record<string, number>
  /** Actions performed, by name. */
  actions: Record<string, number>
  active: number
  peak: number
}

export function emptyStats (): SimStats {
  return {
    started: { inbound: 0, outbound: 0 },
    originate: {},
    ended: {},
    inboundRejected: 0,
    steps: 0,
    agiSessions: 0,
    agiErrors: 0,
    sorry: 0,
    missingPrompts: 0,
    recordings: 0,
    dial: {},
    amd: {},
    actions: {},
    active: 0,
    peak: 0,
  }
}

export function bump (m: Record<string, number>, key: string, n = 1): void {
  m[key] = (m[key] ?? 0) + n
}

/** Adds `b` into `a` (peaks add too: the fleet's peak is at most the sum of instance peaks). */
export function addStats (a: SimStats, b: SimStats): SimStats {
  a.started.inbound += b.started.inbound
  a.started.outbound += b.started.outbound
  for (const k of ['originate', 'ended', 'dial', 'amd', 'actions'] as const) {
    for (const [key, n] of Object.entries(b[k])) bump(a[k], key, n)
  }
  a.inboundRejected += b.inboundRejected
  a.steps += b.steps
  a.agiSessions += b.agiSessions
  a.agiErrors += b.agiErrors
  a.sorry += b.sorry
  a.missingPrompts += b.missingPrompts
  a.recordings += b.recordings
  a.active += b.active
  a.peak += b.peak
  return a
}

export function copyStats (s: SimStats): SimStats {
  return addStats(emptyStats(), s)
}
