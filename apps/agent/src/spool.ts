import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { ParamsOf } from '@federate/protocol'
import { AgentError, AgentErrorCodes } from './errors.ts'

// call.end records the tier could not acknowledge wait here, one JSON file per call id, until a
// resend is acknowledged. Files are written to a temporary name and renamed, so a crash leaves
// either the old record or the new one, never half of one. Resending is idempotent on the tier
// (keyed by call id), so a record sent twice (crash between ack and unlink) does no harm.

export type CallEnd = ParamsOf<'call.end'>

/** What a resend came to: acknowledged, try later, or refused for good (kept aside, not resent). */
export type SendOutcome = 'ok' | 'retry' | 'rejected'

export interface SpoolOptions {
  dir: string
  retryMs: number
  send: (record: CallEnd) => Promise<SendOutcome>
  logger: Logger
  onCount?: (n: number) => void
}

const PREFIX = 'end-'
const REJECTED = 'rejected-'

function fileName (callId: string): string {
  // Call ids are [A-Za-z0-9_.:-]; the prefix keeps '.' and '..' from being names on their own.
  return `${PREFIX}${encodeURIComponent(callId)}.json`
}

export class CallEndSpool {
  private timer: NodeJS.Timeout | null = null
  private pass: Promise<void> | null = null
  private closed = false
  private known = 0
  private ready: Promise<void> | null = null
  private readonly opts: SpoolOptions

  constructor (opts: SpoolOptions) {
    this.opts = opts
  }

  private async init (): Promise<void> {
    this.ready ??= mkdir(this.opts.dir, { recursive: true, mode: 0o750 }).then(() => undefined)
    await this.ready
  }

  /** Records currently waiting (as of the last write or pass). */
  get size (): number {
    return this.known
  }

  private setCount (n: number): void {
    this.known = n
    this.opts.onCount?.(n)
  }

  /** Keeps a record on disk (replacing an older one for the same call). */
  async put (record: CallEnd): Promise<void> {
    try {
      await this.init()
      const final = join(this.opts.dir, fileName(record.callId))
      const tmp = join(this.opts.dir, `.tmp-${randomBytes(6).toString('hex')}`)
      await writeFile(tmp, JSON.stringify(record), { mode: 0o640, flush: true })
      await rename(tmp, final)
      this.setCount(this.known + 1)
    } catch (err) {
      throw new AgentError(AgentErrorCodes.SPOOL, `cannot spool call.end for ${record.callId}: ${(err as Error).message}`, { cause: err })
    }
  }

  /** The call ids waiting in the spool. */
  async pending (): Promise<string[]> {
    await this.init()
    const names = await readdir(this.opts.dir)
    return names.filter((n) => n.startsWith(PREFIX) && n.endsWith('.json')).map((n) => decodeURIComponent(n.slice(PREFIX.length, -5)))
  }

  /** One resend pass over every waiting record; stops early when the tier is unreachable. */
  async flush (): Promise<{ sent: number, left: number }> {
    if (this.pass) await this.pass
    let sent = 0
    let left = 0
    const run = async (): Promise<void> => {
      const ids = await this.pending()
      left = ids.length
      for (const id of ids) {
        if (this.closed) break
        const path = join(this.opts.dir, fileName(id))
        let record: CallEnd
        try {
          record = JSON.parse(await readFile(path, 'utf8')) as CallEnd
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') { left--; continue }
          // A file we cannot read back is moved aside rather than retried forever.
          this.opts.logger.error({ err, callId: id }, 'unreadable spool record moved aside')
          await rename(path, join(this.opts.dir, `${REJECTED}${fileName(id)}`)).catch(() => {})
          left--
          continue
        }
        const outcome = await this.opts.send(record)
        if (outcome === 'retry') break
        if (outcome === 'ok') {
          await rm(path, { force: true })
          sent++
        } else {
          await rename(path, join(this.opts.dir, `${REJECTED}${fileName(id)}`)).catch(() => {})
        }
        left--
      }
    }
    this.pass = run().finally(() => { this.pass = null })
    try {
      await this.pass
    } finally {
      this.setCount(left)
    }
    return { sent, left }
  }

  /** Resends in the background every retryMs until close(). */
  start (): void {
    if (this.timer || this.closed) return
    const tick = (): void => {
      this.flush()
        .then(({ sent, left }) => { if (sent > 0) this.opts.logger.info({ sent, left }, 'spooled call ends resent') })
        .catch((err: unknown) => { this.opts.logger.warn({ err }, 'spool pass failed') })
        .finally(() => { if (!this.closed) this.timer = setTimeout(tick, this.opts.retryMs) })
    }
    this.timer = setTimeout(tick, 0)
  }

  /** Stops the background resends (waits for a pass in progress). Idempotent. */
  async close (): Promise<void> {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    if (this.pass) await this.pass.catch(() => {})
  }
}
