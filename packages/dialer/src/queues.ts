import { randomUUID } from 'node:crypto'
import { Queue, Worker, type Job } from 'bullmq'
import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { Limiter } from './pacing.ts'

/** What a queued dial job carries: PostgreSQL holds the rest. */
export interface DialJobData { contactId: string, attemptNo: number }

export interface QueuesOptions {
  connection: Redis
  /** BullMQ key prefix (one per deployment; tests use a random one). */
  prefix: string
  logger: Logger
  /** Milliseconds before a Redis command is given up during an outage. */
  commandTimeoutMs: number
}

interface Entry {
  queue: Queue<DialJobData>
  worker?: Worker<DialJobData>
  limiter?: Limiter
}

/** The BullMQ job id of a contact's attempt: the same work always gets the same id. */
export function jobIdFor (contactId: string | number, attemptNo: number): string {
  return `c${contactId}-${attemptNo}`
}

/**
 * One BullMQ queue per campaign (per-group rate limits are BullMQ Pro only), each with a
 * worker that has no processor: `take` pulls jobs by hand with `getNextJob`, which respects
 * the limiter kept in Redis and so shared by every app server.
 */
export class CampaignQueues {
  readonly #opts: QueuesOptions
  readonly #entries = new Map<string, Entry>()
  readonly #token = randomUUID()
  #closed = false
  #lastErrorLog = 0

  constructor (opts: QueuesOptions) {
    this.#opts = opts
  }

  /** Whether the Redis connection can take commands now. */
  get ready (): boolean {
    return this.#opts.connection.status === 'ready'
  }

  async add (campaignId: string, jobs: Array<{ contactId: string, attemptNo: number }>): Promise<void> {
    if (jobs.length === 0) return
    const { queue } = this.#entry(campaignId)
    await this.#timed(queue.addBulk(jobs.map((j) => ({
      name: 'dial',
      data: { contactId: j.contactId, attemptNo: j.attemptNo },
      opts: { jobId: jobIdFor(j.contactId, j.attemptNo) },
    }))))
  }

  /**
   * Takes up to `n` jobs from the campaign's queue as its limiter allows. Returns fewer (or
   * none) when the queue is empty or the limiter is exhausted for the current window.
   */
  async take (campaignId: string, n: number, limiter: Limiter): Promise<Array<Job<DialJobData>>> {
    if (n <= 0 || !this.ready) return []
    const worker = this.#worker(campaignId, limiter)
    const jobs: Array<Job<DialJobData>> = []
    // Small parallel batches: each getNextJob is one round trip and Redis serialises them anyway.
    while (jobs.length < n) {
      const batch = Math.min(n - jobs.length, 32)
      const got = await Promise.all(Array.from({ length: batch }, () => this.#nextJob(worker)))
      let empty = false
      for (const j of got) {
        if (j) jobs.push(j)
        else empty = true
      }
      if (empty) break
    }
    return jobs
  }

  /** Marks handed-out jobs done (they are removed: PostgreSQL has the lease). */
  async complete (jobs: Array<Job<DialJobData>>): Promise<void> {
    await Promise.all(jobs.map(async (j) => {
      await this.#timed(j.moveToCompleted(null, this.#token, false)).catch((err) => { this.#error(err) })
    }))
  }

  /** Puts taken jobs back in their queue (PostgreSQL could not lease them, or they came too late). */
  async release (jobs: Array<Job<DialJobData>>): Promise<void> {
    await Promise.all(jobs.map(async (j) => {
      await this.#timed(j.moveToWait(this.#token)).catch((err) => { this.#error(err) })
    }))
  }

  /** Removes the campaign's waiting jobs (pause, stop). */
  async drain (campaignId: string): Promise<void> {
    await this.#timed(this.#entry(campaignId).queue.drain(true))
  }

  /** Removes the campaign's queue from Redis and forgets it. */
  async remove (campaignId: string): Promise<void> {
    const entry = this.#entry(campaignId)
    await this.#timed(entry.queue.obliterate({ force: true }))
    await this.#closeEntry(campaignId, entry)
  }

  /** Jobs waiting in the campaign's queue (for stats and tests). */
  async waiting (campaignId: string): Promise<number> {
    return await this.#timed(this.#entry(campaignId).queue.getWaitingCount())
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all([...this.#entries].map(([id, e]) => this.#closeEntry(id, e)))
  }

  #entry (campaignId: string): Entry {
    let e = this.#entries.get(campaignId)
    if (!e) {
      const queue = new Queue<DialJobData>(queueName(campaignId), {
        connection: this.#opts.connection,
        prefix: this.#opts.prefix,
        defaultJobOptions: { removeOnComplete: true, removeOnFail: true },
      })
      // During a Redis outage BullMQ emits an error about once a second: log, never crash.
      queue.on('error', (err) => { this.#error(err) })
      e = { queue }
      this.#entries.set(campaignId, e)
    }
    return e
  }

  #worker (campaignId: string, limiter: Limiter): Worker<DialJobData> {
    const e = this.#entry(campaignId)
    if (e.worker && e.limiter?.max === limiter.max && e.limiter.duration === limiter.duration) return e.worker
    // The limiter is a worker option, so a changed rate needs a new worker (the Redis-side
    // counter is shared and carries over).
    if (e.worker) {
      const old = e.worker
      old.close(true).catch((err) => { this.#error(err) })
    }
    const worker = new Worker<DialJobData>(queueName(campaignId), null, {
      connection: this.#opts.connection,
      prefix: this.#opts.prefix,
      autorun: false,
      limiter,
      // A job taken but never completed (a crash between Redis and PostgreSQL) goes back to
      // wait after this; the hand-out guard in PostgreSQL drops it if it is stale.
      lockDuration: 30_000,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 0 },
    })
    worker.on('error', (err) => { this.#error(err) })
    worker.startStalledCheckTimer().catch((err) => { this.#error(err) })
    e.worker = worker
    e.limiter = limiter
    return worker
  }

  async #nextJob (worker: Worker<DialJobData>): Promise<Job<DialJobData> | undefined> {
    const p = worker.getNextJob(this.#token, { block: false })
    try {
      return await this.#timed(p)
    } catch (err) {
      // A job that arrives after we gave up must not stay active: put it back in the queue.
      p.then((late) => late && this.release([late])).catch(() => {})
      this.#error(err)
      return undefined
    }
  }

  async #closeEntry (id: string, e: Entry): Promise<void> {
    this.#entries.delete(id)
    await Promise.all([
      e.worker?.close(true).catch((err) => { this.#error(err) }),
      e.queue.close().catch((err) => { this.#error(err) }),
    ])
  }

  async #timed<T> (p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`Redis did not answer within ${this.#opts.commandTimeoutMs} ms`)) }, this.#opts.commandTimeoutMs)
    })
    try {
      return await Promise.race([p, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  #error (err: unknown): void {
    // At most one line every 5 s: an outage must not flood the log.
    const now = Date.now()
    if (now - this.#lastErrorLog < 5000) return
    this.#lastErrorLog = now
    this.#opts.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'dialer queue error')
  }
}

function queueName (campaignId: string): string {
  // BullMQ uses ':' as its key separator; ids never contain '%', so this stays unique.
  return `campaign-${campaignId.replaceAll(':', '%3A')}`
}
