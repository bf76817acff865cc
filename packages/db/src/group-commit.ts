import type pg from 'pg'
import { DbError } from './errors.ts'
import { type Logger, silentLogger } from './logger.ts'

/** How one kind of record is written: `apply` runs inside the batch's transaction. */
export interface WriteKind<R = any> {
  apply: (client: pg.PoolClient, records: R[]) => Promise<unknown>
  /** Throws for a record that can never be written, so it fails alone instead of failing its batch. */
  validate?: (record: R) => void
}

export interface GroupCommitterOptions {
  /** Records per transaction at most (default 500). */
  maxBatch?: number
  /** How long the first record of a batch waits for company (default 5 ms). */
  maxDelayMs?: number
  /** Transactions in flight at once (default 2). */
  concurrency?: number
  kinds?: Record<string, WriteKind | WriteKind['apply']>
  logger?: Logger
}

export interface GroupCommitStats {
  /** Transactions committed. */
  batches: number
  /** Records made durable. */
  records: number
  failedBatches: number
  failedRecords: number
  /** Records waiting for a transaction. */
  pending: number
}

export interface GroupCommitter {
  register: (kind: string, how: WriteKind | WriteKind['apply']) => void
  /**
   * Resolves once the record's transaction has committed; rejects with FED_DB_NOT_DURABLE when it
   * failed (the whole batch is rolled back: the sender keeps the record and resends it, so every
   * kind's apply must be idempotent).
   */
  write: (kind: string, record: unknown) => Promise<void>
  stats: () => GroupCommitStats
  /** Stops accepting writes, commits what is queued, waits for transactions in flight. Idempotent. */
  close: () => Promise<void>
}

interface Item { kind: string, record: unknown, resolve: () => void, reject: (err: Error) => void }

/**
 * Group commit: concurrent writes of any registered kinds share one transaction (one fsync),
 * so durability costs one commit per batch rather than per record.
 */
export function createGroupCommitter (pool: pg.Pool, options: GroupCommitterOptions = {}): GroupCommitter {
  const maxBatch = Math.max(1, options.maxBatch ?? 500)
  const maxDelayMs = Math.max(0, options.maxDelayMs ?? 5)
  const concurrency = Math.max(1, options.concurrency ?? 2)
  const logger = (options.logger ?? silentLogger).child({ module: 'group-commit' })
  const kinds = new Map<string, WriteKind>()
  const stats = { batches: 0, records: 0, failedBatches: 0, failedRecords: 0 }
  let pending: Item[] = []
  const inFlight = new Set<Promise<void>>()
  let timer: NodeJS.Timeout | undefined
  // The oldest pending record has waited maxDelayMs (or we are closing): flush without waiting for a full batch.
  let due = false
  let closed = false
  let closing: Promise<void> | undefined

  function register (kind: string, how: WriteKind | WriteKind['apply']): void {
    kinds.set(kind, typeof how === 'function' ? { apply: how } : how)
  }
  for (const [kind, how] of Object.entries(options.kinds ?? {})) register(kind, how)

  function pump (): void {
    while (inFlight.size < concurrency && pending.length > 0 && (due || pending.length >= maxBatch)) {
      const batch = pending.slice(0, maxBatch)
      pending = pending.slice(maxBatch)
      if (pending.length === 0) {
        due = closed
        if (timer) { clearTimeout(timer); timer = undefined }
      }
      const run = commit(batch).finally(() => {
        inFlight.delete(run)
        pump()
      })
      inFlight.add(run)
    }
  }

  async function commit (batch: Item[]): Promise<void> {
    let client: pg.PoolClient | undefined
    let broken: Error | undefined
    try {
      client = await pool.connect()
      await client.query('BEGIN')
      const byKind = new Map<string, unknown[]>()
      for (const item of batch) {
        const list = byKind.get(item.kind)
        if (list) list.push(item.record)
        else byKind.set(item.kind, [item.record])
      }
      for (const [kind, records] of byKind) await kinds.get(kind)!.apply(client, records)
      // COMMIT of a transaction an apply left aborted (error caught inside it) rolls back silently.
      const done = await client.query('COMMIT')
      if (done.command !== 'COMMIT') throw new Error(`transaction ended with ${done.command}`)
      stats.batches++
      stats.records += batch.length
      for (const item of batch) item.resolve()
    } catch (err) {
      if (client) await client.query('ROLLBACK').catch((e: Error) => { broken = e })
      stats.failedBatches++
      stats.failedRecords += batch.length
      logger.warn({ err: (err as Error).message, records: batch.length }, 'group commit failed')
      // If COMMIT itself failed the outcome is unknown: the resend is harmless because writes are idempotent.
      const failure = new DbError('FED_DB_NOT_DURABLE', `batch of ${batch.length} rolled back: ${(err as Error).message}`, { cause: err })
      for (const item of batch) item.reject(failure)
    } finally {
      client?.release(broken)
    }
  }

  async function write (kind: string, record: unknown): Promise<void> {
    if (closed) throw new DbError('FED_DB_CLOSED', 'group committer is closed')
    const how = kinds.get(kind)
    if (!how) throw new DbError('FED_DB_INVALID_INPUT', `unknown write kind ${JSON.stringify(kind)}`)
    how.validate?.(record)
    await new Promise<void>((resolve, reject) => {
      pending.push({ kind, record, resolve, reject })
      if (!timer && !due) {
        timer = setTimeout(() => {
          timer = undefined
          due = true
          pump()
        }, maxDelayMs)
      }
      pump()
    })
  }

  async function drain (): Promise<void> {
    due = true
    if (timer) { clearTimeout(timer); timer = undefined }
    while (pending.length > 0 || inFlight.size > 0) {
      pump()
      await Promise.race(inFlight)
    }
  }

  return {
    register,
    write,
    stats: () => ({ ...stats, pending: pending.length }),
    close: async () => {
      closed = true
      closing ??= drain()
      await closing
    },
  }
}
