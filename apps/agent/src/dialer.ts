import type { Logger } from 'pino'
import type { ParamsOf, ResultOf } from '@federate/protocol'
import type { AmiClient, OriginateResult } from './ami-client.ts'
import type { CallEnd } from './spool.ts'

// Campaign calls: while not draining, lease up to `free` jobs with dialer.next and Originate
// each one into [federate-campaign]. Answered calls then live in the dialplan and end through
// the hangup handler; failed ones are reported here with call.end (CONTRACT.md §6).

type DialJob = ResultOf<'dialer.next'>[number]

export interface DialerOptions {
  instanceId: string
  capacity: number
  intervalMs: number
  /** Dial string for a job's number: `{to}` is replaced (e.g. PJSIP/{to}@carrier). */
  dialTemplate: string
  ami: AmiClient
  logger: Logger
  draining: () => boolean
  /** Live calls (distinct Linkedid) right now. */
  liveCallIds: () => Promise<Set<string>>
  next: (params: ParamsOf<'dialer.next'>) => Promise<ResultOf<'dialer.next'>>
  endCall: (record: CallEnd) => Promise<void>
  onOriginate?: (outcome: string) => void
}

/** OriginateResponse Reason (the last control frame seen) to the call.end cause. */
export function originateCause (result: OriginateResult): string {
  switch (result.reason) {
    case 0: return 'CHANUNAVAIL'
    case 3: return 'NOANSWER'
    case 5: return 'BUSY'
    case 8: return 'CONGESTION'
    default: return 'FAILED'
  }
}

const VAR_NAME = /^[A-Za-z0-9_]{1,64}$/

export class Dialer {
  private timer: NodeJS.Timeout | null = null
  private closed = false
  private ticking: Promise<void> | null = null
  /** Originates sent whose OriginateResponse has not come yet, by call id. */
  readonly inflight = new Map<string, Promise<void>>()
  /** dialer.next calls made (tests watch it). */
  pulls = 0
  private readonly opts: DialerOptions

  constructor (opts: DialerOptions) {
    this.opts = opts
  }

  start (): void {
    if (this.timer || this.closed) return
    const loop = (): void => {
      this.ticking = this.tick().then(() => {})
        .catch((err: unknown) => { this.opts.logger.warn({ err }, 'dialer tick failed') })
        .finally(() => {
          this.ticking = null
          if (!this.closed) this.timer = setTimeout(loop, this.opts.intervalMs)
        })
    }
    this.timer = setTimeout(loop, 0)
  }

  /** One pull: free = capacity - live calls - originates in flight (a ringing originate is both, counted once). */
  async tick (): Promise<number> {
    const { ami } = this.opts
    if (this.closed || this.opts.draining() || !ami.connected) return 0
    const live = await this.opts.liveCallIds()
    let busy = live.size
    for (const id of this.inflight.keys()) if (!live.has(id)) busy++
    const free = Math.max(0, Math.min(10_000, this.opts.capacity - busy))
    if (free === 0) return 0
    this.pulls++
    const jobs = await this.opts.next({ instanceId: this.opts.instanceId, free })
    // The drain may have come while we waited; leased jobs then go back when their lease expires.
    if (this.closed || this.opts.draining()) return 0
    for (const job of jobs.slice(0, free)) this.launch(job)
    return jobs.length
  }

  private launch (job: DialJob): void {
    if (this.inflight.has(job.callId)) return
    const variables: Record<string, string> = { FED_CALLID: job.callId, FED_CAMPAIGN: job.campaignId, FED_FLOWREF: job.flowRef }
    for (const [k, v] of Object.entries(job.vars)) {
      // AMI splits a Variable header on commas: such a value cannot be passed, the tier has it anyway.
      if (VAR_NAME.test(k) && !/[,\r\n]/.test(v)) variables[`FED_VAR_${k}`] = v
    }
    const channel = job.to.includes('/') ? job.to : this.opts.dialTemplate.replaceAll('{to}', job.to)
    const run = (async () => {
      try {
        const result = await this.opts.ami.originate({
          channel,
          channelId: job.callId,
          context: 'federate-campaign',
          exten: 's',
          priority: 1,
          timeoutMs: (job.ringTimeoutSec ?? 30) * 1000,
          callerId: job.from || undefined,
          variables,
        })
        if (result.response === 'Success') {
          this.opts.onOriginate?.('answered')
          return
        }
        const cause = originateCause(result)
        this.opts.onOriginate?.(cause.toLowerCase())
        await this.opts.endCall({ callId: job.callId, instanceId: this.opts.instanceId, cause, durationSec: 0, billSec: 0 })
      } catch (err) {
        // AMI down or lost mid-originate: the fate is unknown, so nothing is reported; an
        // answered call reports its own end, an unanswered one goes back when its lease expires.
        this.opts.onOriginate?.('unknown')
        this.opts.logger.warn({ err, callId: job.callId }, 'originate outcome unknown')
      }
    })()
    this.inflight.set(job.callId, run)
    run.finally(() => { this.inflight.delete(job.callId) }).catch(() => {})
  }

  /** Stops pulling; waits for the current pull and (up to graceMs) the originates in flight. Idempotent. */
  async close (graceMs = 5000): Promise<void> {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    if (this.ticking) await this.ticking
    let t: NodeJS.Timeout | undefined
    await Promise.race([Promise.allSettled([...this.inflight.values()]), new Promise((resolve) => { t = setTimeout(resolve, graceMs) })])
    clearTimeout(t)
  }
}
