import type { Logger } from 'pino'
import type { ParamsOf, ResultOf } from '@federate/protocol'

// instance.heartbeat every few seconds: the instance's load and versions go up, commands come
// back (drain, resume, sync). A heartbeat that fails changes nothing: the last commands hold.

export interface HeartbeatOptions {
  intervalMs: number
  logger: Logger
  report: () => Promise<ParamsOf<'instance.heartbeat'>>
  send: (params: ParamsOf<'instance.heartbeat'>) => Promise<ResultOf<'instance.heartbeat'>>
  onCommand: (command: ResultOf<'instance.heartbeat'>['commands'][number], manifestVersion: number) => void
}

export class Heartbeat {
  private timer: NodeJS.Timeout | null = null
  private closed = false
  private beating: Promise<void> | null = null
  /** Heartbeats acknowledged (tests watch it). */
  beats = 0
  private readonly opts: HeartbeatOptions

  constructor (opts: HeartbeatOptions) {
    this.opts = opts
  }

  start (): void {
    if (this.timer || this.closed) return
    const loop = (): void => {
      this.beating = this.beat()
        .catch((err: unknown) => { this.opts.logger.warn({ err }, 'heartbeat failed') })
        .finally(() => {
          this.beating = null
          if (!this.closed) this.timer = setTimeout(loop, this.opts.intervalMs)
        })
    }
    this.timer = setTimeout(loop, 0)
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
