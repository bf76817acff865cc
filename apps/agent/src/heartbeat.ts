import type { Logger } from 'pino'
import type { ParamsOf, ResultOf } from '@federate/protocol'

// instance.heartbeat every few seconds: the instance's load and versions go up, commands come
// back (drain, resume, sync). A heartbeat that fails changes nothing: the last commands hold.

export interface HeartbeatOptions {
  /** Between heartbeats; a function is asked again before each wait (a draining agent reports faster). */
  intervalMs: number | (() => number)
  logger: Logger
  report: () => Promise<ParamsOf<'instance.heartbeat'>>
  send: (params: ParamsOf<'instance.heartbeat'>) => Promise<ResultOf<'instance.heartbeat'>>
  onCommand: (command: ResultOf<'instance.heartbeat'>['commands'][number], manifestVersion: number) => void
}

export class Heartbeat {
  private timer: NodeJS.Timeout | null = null
  private closed = false
  private beating: Promise<void> | null = null
  private again = false
  /** Heartbeats acknowledged (tests watch it). */
  beats = 0
  private readonly opts: HeartbeatOptions

  constructor (opts: HeartbeatOptions) {
    this.opts = opts
  }

  start (): void {
    if (this.timer || this.closed) return
    this.timer = setTimeout(() => { this.loop() }, 0)
  }

  private loop (): void {
    this.beating = this.beat()
      .catch((err: unknown) => { this.opts.logger.warn({ err }, 'heartbeat failed') })
      .finally(() => {
        this.beating = null
        const { intervalMs } = this.opts
        const wait = this.again ? 0 : typeof intervalMs === 'function' ? intervalMs() : intervalMs
        this.again = false
        if (!this.closed) this.timer = setTimeout(() => { this.loop() }, wait)
      })
  }

  /** A heartbeat now rather than at the next interval (news the tier should have at once). */
  now (): void {
    if (this.closed || !this.timer) return
    // One in flight may have been built before the news: send another as soon as it is done.
    if (this.beating) { this.again = true; return }
    clearTimeout(this.timer)
    this.timer = setTimeout(() => { this.loop() }, 0)
  }

  async beat (): Promise<void> {
    const result = await this.opts.send(await this.opts.report())
    this.beats++
    for (const command of result.commands) this.opts.onCommand(command, result.manifestVersion)
  }

  async close (): Promise<void> {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    if (this.beating) await this.beating
  }
}
