import { basename, dirname, resolve } from 'node:path'
import type { Logger } from 'pino'
import type { ResultOf } from '@federate/protocol'
import { SOUNDS_PREFIX, syncManifest, type SyncResult } from '@federate/storage/instance'
import { AgentError, AgentErrorCodes } from './errors.ts'

// Keeps this instance's prompts in step with the tier's audio manifest. The first pass after
// start asks for the full manifest (a restart is a rejoin: strays go, files already right are
// not downloaded again); later passes ask for the delta after the version last synced. One
// pass at a time, in the background: steps never wait for audio. A failed pass is retried
// with a growing, jittered delay; downloads it left half done resume on the next pass
// (syncManifest keeps them as temp files named after their content).

export type Manifest = ResultOf<'storage.manifest'>

export interface AudioSyncOptions {
  /** FEDERATE_SOUNDS_DIR: the folder prompts are played from; its last segment must be `federate`. */
  soundsDir: string
  /** `storage.manifest` through the tier client: the full list without `since`. */
  fetchManifest: (since?: number) => Promise<Manifest>
  /** Called once, when the first full pass has completed (the instance may now take calls). */
  onReady?: () => void
  concurrency: number
  downloadTimeoutMs: number
  /** First wait after a failed pass; doubles up to `maxRetryMs`. */
  retryMs: number
  maxRetryMs?: number
  /** The fetch downloads use (default: global fetch). */
  fetch?: typeof globalThis.fetch
  logger: Logger
  /** Called after every pass that ran (metrics, tests). */
  onPass?: (result: SyncResult, full: boolean) => void
}

export interface AudioSyncStats {
  /** The manifest version completely on disk (0 before the first pass). */
  version: number
  /** True once a full pass completed. */
  ready: boolean
  passes: number
  /** Passes that asked for the full manifest (the rest asked for a delta). */
  fullPasses: number
  failedPasses: number
  /** Bytes received over the network since start. */
  downloadedBytes: number
  last?: SyncResult
  lastError?: string
}

/**
 * The Asterisk sounds directory the sync writes into, from FEDERATE_SOUNDS_DIR. syncManifest
 * puts a prompt `poll/intro` at `<root>/federate/poll/intro.wav` and the agent plays
 * `<FEDERATE_SOUNDS_DIR>/poll/intro`: the two agree exactly when FEDERATE_SOUNDS_DIR is
 * `<root>/federate`, so that is the rule (FED_AGENT_CONFIG otherwise).
 */
export function syncRoot (soundsDir: string): string {
  const dir = resolve(soundsDir)
  if (basename(dir) !== SOUNDS_PREFIX || dirname(dir) === dir) {
    throw new AgentError(AgentErrorCodes.CONFIG,
      `FEDERATE_SOUNDS_DIR ${JSON.stringify(soundsDir)} must end in /${SOUNDS_PREFIX} when audio sync is on ` +
      `(e.g. /var/lib/asterisk/sounds/${SOUNDS_PREFIX}): synced prompts are written under <Asterisk sounds>/${SOUNDS_PREFIX}/`)
  }
  return dirname(dir)
}

export class AudioSync {
  private readonly opts: AudioSyncOptions
  private readonly root: string
  private readonly log: Logger
  private readonly abort = new AbortController()
  private running: Promise<void> | null = null
  private timer: NodeJS.Timeout | null = null
  private failures = 0
  private target = 0
  private closed = false
  private readonly s: AudioSyncStats = { version: 0, ready: false, passes: 0, fullPasses: 0, failedPasses: 0, downloadedBytes: 0 }

  constructor (opts: AudioSyncOptions) {
    this.opts = opts
    this.root = syncRoot(opts.soundsDir)
    this.log = opts.logger
  }

  /** The manifest version to report in heartbeats. */
  get version (): number { return this.s.version }
  /** False until the first full pass completed. */
  get ready (): boolean { return this.s.ready }
  get stats (): Readonly<AudioSyncStats> { return { ...this.s } }

  /** Starts the first (full) pass. */
  start (): void {
    this.request()
  }

  /**
   * Asks for a pass (a heartbeat said `sync`, or announced `manifestVersion`). Returns at once:
   * a pass in progress or a retry waiting absorbs the request (the loop goes on while the
   * version on disk is behind the newest one asked for).
   */
  request (manifestVersion?: number): void {
    if (this.closed) return
    if (manifestVersion !== undefined && manifestVersion > this.target) this.target = manifestVersion
    if (this.running || this.timer) return
    this.running = this.loop().finally(() => { this.running = null })
  }

  /** Runs passes until the disk holds the newest version asked for; waits for the loop in progress first. */
  async settle (): Promise<void> {
    while (this.running) await this.running
  }

  private behind (): boolean {
    return !this.s.ready || this.target > this.s.version
  }

  private async loop (): Promise<void> {
    while (!this.closed && this.behind()) {
      const before = this.s.version
      try {
        await this.pass()
        this.failures = 0
      } catch (err) {
        if (this.closed) return
        this.failures++
        this.s.failedPasses++
        this.s.lastError = (err as Error).message
        const base = Math.min(this.opts.maxRetryMs ?? 60_000, this.opts.retryMs * 2 ** Math.min(this.failures - 1, 16))
        // Jitter: a fleet that failed together does not retry together.
        const delay = Math.round(base * (0.5 + Math.random() / 2))
        this.log.warn({ err, retryInMs: delay, failures: this.failures }, 'audio sync pass failed')
        this.retryIn(delay)
        return
      }
      // Complete, yet older than a version a heartbeat announced (an app server's cached
      // version ran ahead of the one that answered): ask again after a pause, not in a spin.
      if (this.s.ready && this.target > this.s.version && this.s.version === before) {
        this.retryIn(this.opts.retryMs)
        return
      }
    }
  }

  private retryIn (ms: number): void {
    if (this.closed) return
    this.timer = setTimeout(() => {
      this.timer = null
      this.request()
    }, ms)
  }

  private async pass (): Promise<void> {
    const full = !this.s.ready
    let manifest: Manifest
    try {
      manifest = await this.opts.fetchManifest(full ? undefined : this.s.version)
    } catch (err) {
      throw new AgentError(AgentErrorCodes.SYNC, `storage.manifest failed: ${(err as Error).message}`, { cause: err })
    }
    const result = await syncManifest({
      manifest,
      soundsDir: this.root,
      concurrency: this.opts.concurrency,
      timeoutMs: this.opts.downloadTimeoutMs,
      fetch: this.opts.fetch,
      logger: this.log,
      signal: this.abort.signal,
    })
    this.s.passes++
    if (manifest.full) this.s.fullPasses++
    this.s.downloadedBytes += result.downloadedBytes
    this.s.last = result
    this.opts.onPass?.(result, manifest.full)
    if (result.failed.length > 0) {
      const first = result.failed[0]!
      throw new AgentError(AgentErrorCodes.SYNC, `${result.failed.length} file(s) not synced, first ${first.path}: ${first.code} ${first.message}`)
    }
    this.s.version = result.version
    if (this.target < result.version) this.target = result.version
    if (manifest.full && !this.s.ready) {
      this.s.ready = true
      this.log.info({ version: result.version, files: manifest.files.length }, 'first full audio sync done: ready')
      this.opts.onReady?.()
    }
  }

  /** Stops: aborts downloads in flight (their temp files resume on the next start). Idempotent. */
  async close (): Promise<void> {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.abort.abort()
    await this.running?.catch(() => {})
  }
}
