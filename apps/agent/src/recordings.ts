import { randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { ParamsOf, ResultOf } from '@federate/protocol'
import { AgentError, AgentErrorCodes } from './errors.ts'

// Uploads call recordings straight to storage with a signed PUT URL (`recording.upload`): the
// app tier never carries audio. Each recording to upload is first written down as a small JSON
// entry in a pending folder (`<FEDERATE_SPOOL_DIR>/uploads/`), so one that cannot be uploaded
// now (tier or S3 down) stays on the instance, survives a restart and is retried with a
// growing delay. The entry goes, and the recording too unless kept, once the PUT succeeded.

export interface RecordingUploaderOptions {
  instanceId: string
  /** FEDERATE_RECORDINGS_DIR: where Record() writes. */
  recordingsDir: string
  /** Where pending entries are kept (one JSON file per recording). */
  pendingDir: string
  /** `recording.upload` through the tier client. */
  requestUpload: (params: ParamsOf<'recording.upload'>) => Promise<ResultOf<'recording.upload'>>
  /** Keep the local file after a successful upload. */
  keep: boolean
  concurrency: number
  /** Longest time for one PUT. */
  timeoutMs: number
  /** First wait after a failed attempt; doubles up to `maxRetryMs` (default 5 min). */
  retryMs: number
  maxRetryMs?: number
  fetch?: typeof globalThis.fetch
  logger: Logger
  /** Called with the number of pending uploads whenever it changes. */
  onCount?: (n: number) => void
}

interface Entry {
  callId: string
  /** The recording's file name (with its extension) in the recordings folder. */
  file: string
  node?: string
  addedAt: string
}

interface Pending {
  entry: Entry
  /** The entry's file name in the pending folder. */
  name: string
  attempts: number
  nextAt: number
  busy: boolean
  /** False until the entry is on disk. */
  persisted: Promise<void>
}

const FILE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,159}$/
const CALL_ID = /^[A-Za-z0-9_.:-]{1,128}$/
/** The formats Record() writes for the `record` action (RecordArgs.format), in the order looked for. */
const FORMATS = ['wav', 'gsm', 'ulaw'] as const
const REJECTED = 'rejected-'
const CONTENT_TYPE: Record<string, string> = { wav: 'audio/wav', gsm: 'audio/x-gsm', ulaw: 'audio/basic' }

function entryName (callId: string, file: string): string {
  // ':' is the only call id character that is not file-safe; '~' appears in neither part.
  return `${encodeURIComponent(callId)}~${file}.json`
}

function isFault (err: unknown): err is { faultCode: number, retryable?: boolean } {
  return typeof (err as { faultCode?: unknown })?.faultCode === 'number'
}

/**
 * The node id the flow engine put in a recording's file name
 * (`<prefix>-<callId, last 48>-<node, first 24>-<step>`, packages/flows engine.ts), when it can
 * be read back whole; undefined otherwise (the node is optional in `recording.upload`).
 */
export function nodeFromFile (file: string, callId: string): string | undefined {
  const call = callId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(-48)
  const at = file.indexOf(`-${call}-`)
  if (at < 0) return undefined
  const rest = file.slice(at + call.length + 2).replace(/\.[A-Za-z0-9]+$/, '')
  const dash = rest.lastIndexOf('-')
  if (dash <= 0 || !/^[0-9]+$/.test(rest.slice(dash + 1))) return undefined
  const node = rest.slice(0, dash)
  // 24 characters may be a truncated id: better no node than a wrong one.
  return node.length < 24 ? node : undefined
}

export class RecordingUploader {
  private readonly opts: RecordingUploaderOptions
  private readonly log: Logger
  private readonly pending = new Map<string, Pending>()
  private readonly abort = new AbortController()
  private readonly inFlight = new Set<Promise<void>>()
  private waiters: Array<() => void> = []
  private timer: NodeJS.Timeout | null = null
  private active = 0
  private started = false
  private closing = false
  private stopped = false
  private dirReady: Promise<unknown> | null = null
  /** Uploads done since start (tests, logs). */
  uploaded = 0

  constructor (opts: RecordingUploaderOptions) {
    this.opts = opts
    this.log = opts.logger
  }

  /** Recordings waiting to be uploaded (reported in heartbeats as `pendingUploads`). */
  get count (): number {
    return this.pending.size
  }

  private changed (): void {
    this.opts.onCount?.(this.pending.size)
    const waiting = this.waiters
    this.waiters = []
    for (const w of waiting) w()
  }

  /** Loads the entries a previous run left and starts uploading them. */
  async start (): Promise<void> {
    if (this.started || this.stopped) return
    this.started = true
    let names: string[] = []
    try {
      names = await readdir(this.opts.pendingDir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.error({ err }, 'cannot read the pending uploads folder')
    }
    for (const name of names) {
      if (!name.endsWith('.json') || name.startsWith(REJECTED) || name.startsWith('.')) continue
      try {
        const entry = JSON.parse(await readFile(join(this.opts.pendingDir, name), 'utf8')) as Entry
        if (!CALL_ID.test(entry.callId) || !FILE.test(entry.file) || name !== entryName(entry.callId, entry.file)) throw new Error('malformed entry')
        this.pending.set(name, { entry, name, attempts: 0, nextAt: 0, busy: false, persisted: Promise.resolve() })
      } catch (err) {
        this.log.error({ err, entry: name }, 'unreadable pending upload moved aside')
        await rename(join(this.opts.pendingDir, name), join(this.opts.pendingDir, `${REJECTED}${name}`)).catch(() => {})
      }
    }
    if (this.pending.size > 0) this.log.info({ pending: this.pending.size }, 'pending recording uploads resumed')
    this.changed()
    this.pump()
  }

  /**
   * A `recorded` event: `name` is the recording's file name without extension (the basename of
   * RECORDED_FILE), in the recordings folder. Never throws: a step does not wait for this.
   */
  recorded (callId: string, name: string): void {
    this.find(name).then(async (file) => {
      if (file === undefined) {
        this.log.warn({ callId, name }, 'recorded event for a file that is not in the recordings folder: nothing to upload')
        return
      }
      await this.add(callId, file)
    }).catch((err: unknown) => { this.log.error({ err, callId, name }, 'could not queue a recording for upload') })
  }

  private async find (name: string): Promise<string | undefined> {
    if (!FILE.test(name)) return undefined
    for (const ext of FORMATS) {
      const file = `${name}.${ext}`
      if (!FILE.test(file)) continue
      const st = await stat(join(this.opts.recordingsDir, file)).catch(() => undefined)
      if (st?.isFile()) return file
    }
    return undefined
  }

  /**
   * Queues one recording (a file name in the recordings folder) for upload; resolves once its
   * entry is on disk. Queuing the same recording twice is a no-op.
   */
  async add (callId: string, file: string, node = nodeFromFile(file, callId)): Promise<void> {
    if (!CALL_ID.test(callId) || !FILE.test(file)) {
      throw new AgentError(AgentErrorCodes.UPLOAD, `cannot upload ${JSON.stringify(file)} of call ${JSON.stringify(callId)}: unusable name`)
    }
    const name = entryName(callId, file)
    const known = this.pending.get(name)
    if (known) return await known.persisted
    const entry: Entry = { callId, file, addedAt: new Date().toISOString() }
    if (node !== undefined) entry.node = node
    // In the map at once (a sweep at call end sees it), uploaded only once it is on disk.
    const item: Pending = { entry, name, attempts: 0, nextAt: 0, busy: true, persisted: this.persist(name, entry) }
    this.pending.set(name, item)
    this.changed()
    try {
      await item.persisted
    } catch (err) {
      // Still uploaded from memory; only a restart before the upload would lose track of it.
      this.log.error({ err, callId, file }, 'could not write the pending upload entry')
    } finally {
      item.busy = false
    }
    this.pump()
  }

  private async persist (name: string, entry: Entry): Promise<void> {
    this.dirReady ??= mkdir(this.opts.pendingDir, { recursive: true, mode: 0o750 })
    await this.dirReady
    const tmp = join(this.opts.pendingDir, `.tmp-${randomBytes(6).toString('hex')}`)
    await writeFile(tmp, JSON.stringify(entry), { mode: 0o640, flush: true })
    await rename(tmp, join(this.opts.pendingDir, name))
  }

  /**
   * A call ended: queues its recordings that no `recorded` event reported (the caller hung up
   * during Record(); the `k` option kept the file). Only when files are deleted after upload,
   * so what is left in the folder is by definition not uploaded.
   */
  async callEnded (callId: string): Promise<void> {
    if (this.opts.keep || this.stopped || !CALL_ID.test(callId)) return
    const call = callId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(-48)
    let names: string[]
    try {
      names = await readdir(this.opts.recordingsDir)
    } catch {
      return
    }
    for (const file of names) {
      if (!file.includes(`-${call}-`) || !FILE.test(file)) continue
      if (!FORMATS.some((ext) => file.endsWith(`.${ext}`))) continue
      if (this.pending.has(entryName(callId, file))) continue
      this.log.info({ callId, file }, 'recording of a call that hung up while recording: queued for upload')
      await this.add(callId, file).catch((err: unknown) => { this.log.error({ err, callId, file }, 'could not queue a recording') })
    }
  }

  private backoff (attempts: number): number {
    const max = this.opts.maxRetryMs ?? 300_000
    // While closing, keep trying at the first pace: close() waits a bounded time anyway.
    if (this.closing) return this.opts.retryMs
    const base = Math.min(max, this.opts.retryMs * 2 ** Math.min(attempts - 1, 20))
    return Math.round(base * (0.5 + Math.random() / 2))
  }

  private pump (): void {
    if (this.stopped || !this.started) return
    const now = Date.now()
    let next = Infinity
    for (const item of this.pending.values()) {
      if (item.busy) continue
      if (item.nextAt > now) {
        next = Math.min(next, item.nextAt)
        continue
      }
      if (this.active >= this.opts.concurrency) break
      this.run(item)
    }
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    if (next !== Infinity && this.active < this.opts.concurrency) {
      this.timer = setTimeout(() => { this.timer = null; this.pump() }, Math.max(0, next - now))
    }
  }

  private run (item: Pending): void {
    item.busy = true
    this.active++
    const p = this.upload(item)
      .then(async (outcome) => {
        if (outcome === 'retry') {
          item.attempts++
          item.nextAt = Date.now() + this.backoff(item.attempts)
          return
        }
        if (outcome === 'rejected') {
          await rename(join(this.opts.pendingDir, item.name), join(this.opts.pendingDir, `${REJECTED}${item.name}`)).catch(() => {})
        } else {
          await rm(join(this.opts.pendingDir, item.name), { force: true })
        }
        this.pending.delete(item.name)
      })
      .catch((err: unknown) => { this.log.error({ err }, 'upload bookkeeping failed') })
      .finally(() => {
        item.busy = false
        this.active--
        this.inFlight.delete(p)
        this.changed()
        this.pump()
      })
    this.inFlight.add(p)
  }

  private async upload (item: Pending): Promise<'ok' | 'retry' | 'rejected' | 'gone'> {
    const { callId, file, node } = item.entry
    const log = this.log.child({ callId, file })
    const path = join(this.opts.recordingsDir, file)
    let body: Buffer
    try {
      body = await readFile(path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        log.warn('recording vanished before it was uploaded: dropped')
        return 'gone'
      }
      log.error({ err }, 'cannot read the recording')
      return 'retry'
    }
    let target: ResultOf<'recording.upload'>
    try {
      const params: ParamsOf<'recording.upload'> = { instanceId: this.opts.instanceId, callId, file, size: body.length }
      if (node !== undefined) params.node = node
      target = await this.opts.requestUpload(params)
    } catch (err) {
      if (isFault(err) && err.retryable !== true) {
        log.error({ err }, 'recording.upload refused for good: entry moved aside, file kept')
        return 'rejected'
      }
      log.warn({ err, attempts: item.attempts + 1 }, 'recording.upload failed: will retry')
      return 'retry'
    }
    try {
      const ext = file.slice(file.lastIndexOf('.') + 1)
      const res = await (this.opts.fetch ?? globalThis.fetch)(target.url, {
        method: 'PUT',
        body,
        headers: { 'content-type': CONTENT_TYPE[ext] ?? 'application/octet-stream' },
        signal: AbortSignal.any([AbortSignal.timeout(this.opts.timeoutMs), this.abort.signal]),
      })
      const text = await res.text().catch(() => '')
      if (!res.ok) throw new AgentError(AgentErrorCodes.UPLOAD, `PUT ${target.key}: HTTP ${res.status} ${text.slice(0, 200)}`.trim())
    } catch (err) {
      log.warn({ err, attempts: item.attempts + 1 }, 'recording upload failed: will retry')
      return 'retry'
    }
    if (!this.opts.keep) await rm(path, { force: true }).catch((err: unknown) => { log.warn({ err }, 'uploaded recording could not be deleted') })
    this.uploaded++
    log.info({ key: target.key, bytes: body.length }, 'recording uploaded')
    return 'ok'
  }

  /** Tries every pending upload now (ignoring backoff) and waits for that round. */
  async flush (): Promise<void> {
    for (const item of this.pending.values()) item.nextAt = 0
    this.pump()
    await Promise.allSettled([...this.inFlight])
  }

  /**
   * Stops, after trying for up to `waitMs` to upload what is pending (retrying at the first
   * pace meanwhile). What is still pending then stays on disk for the next start. Idempotent.
   */
  async close (waitMs = 0): Promise<void> {
    if (this.stopped) return
    this.closing = true
    const deadline = Date.now() + waitMs
    if (this.pending.size > 0 && waitMs > 0) {
      for (const item of this.pending.values()) item.nextAt = Math.min(item.nextAt, Date.now())
      this.pump()
      while (this.pending.size > 0 && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.max(0, deadline - Date.now()))
          this.waiters.push(() => { clearTimeout(t); resolve() })
        })
      }
      if (this.pending.size > 0) this.log.warn({ pending: this.pending.size }, 'closing with recordings not uploaded: they stay pending on disk')
    }
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.abort.abort()
    await Promise.allSettled([...this.inFlight])
  }
}
