import type pg from 'pg'
import { pino, type Logger } from 'pino'

// Leader election on a PostgreSQL session advisory lock, held on one dedicated connection: the
// lock lives exactly as long as that connection. If the connection dies (the process crashed,
// the network dropped, someone terminated the backend), PostgreSQL releases the lock and a
// standby's next pg_try_advisory_lock wins; the old leader sees its connection fail and stops
// acting. The leader also pings its connection every `retryMs`, so a silent failure is noticed.

/** 'FEDC': the lock's class, so the key cannot collide with other advisory locks of the database. */
const LOCK_CLASS = 0x46454443

export interface LeaderElectionOptions {
  /** Where the lock connection comes from (held out of the pool for as long as it lives). */
  pool: pg.Pool
  /** One lock per fleet. */
  cluster: string
  retryMs: number
  logger?: Logger
  /** Called on every change. */
  onChange?: (leader: boolean) => void
  /** Channels the leader LISTENs to on its lock connection (events that should not wait for a pass). */
  channels?: readonly string[]
  /** A notification on one of `channels`, while leading. */
  onNotification?: (channel: string, payload: string) => void
}

export interface LeaderElection {
  isLeader: () => boolean
  /** One attempt to take the lock now (no-op when leading). */
  tryAcquire: () => Promise<boolean>
  /** Keep trying every retryMs, and watch the lock connection while leading. */
  start: () => void
  /** The PostgreSQL backend holding (or trying) the lock, for operators and tests. */
  backendPid: () => number | null
  /** Gives up the lock (if held) and the connection. Idempotent. */
  close: () => Promise<void>
}

export function createLeaderElection (opts: LeaderElectionOptions): LeaderElection {
  const logger = (opts.logger ?? pino({ level: 'silent' })).child({ module: 'leader' })
  let client: pg.PoolClient | undefined
  let pid: number | null = null
  let leader = false
  let closed = false
  let timer: NodeJS.Timeout | undefined
  let busy: Promise<unknown> | undefined
  // When this controller lost the lock it waits a few rounds before trying again, so a healthy
  // standby wins rather than the one whose connection just failed.
  let lostAt = 0

  const set = (v: boolean) => {
    if (leader === v) return
    leader = v
    logger.info({ leader: v, backendPid: pid }, v ? 'leadership acquired' : 'leadership lost')
    opts.onChange?.(v)
  }

  // A dead connection is thrown away (release with an error destroys it); leadership goes with it.
  const drop = (c: pg.PoolClient, err: Error) => {
    if (client !== c) return
    client = undefined
    pid = null
    try { c.release(err) } catch {}
    if (leader) lostAt = Date.now()
    set(false)
  }

  async function connection (): Promise<pg.PoolClient> {
    if (client) return client
    const c = await opts.pool.connect()
    c.on('error', (err) => {
      logger.warn({ err: err.message }, 'lock connection failed')
      drop(c, err)
    })
    c.on('end', () => drop(c, new Error('lock connection ended')))
    c.on('notification', (n) => { if (leader && client === c) opts.onNotification?.(n.channel, n.payload ?? '') })
    client = c
    return c
  }

  async function attempt (): Promise<boolean> {
    if (closed) return false
    if (!leader && Date.now() - lostAt < 3 * opts.retryMs) return false
    let c: pg.PoolClient | undefined
    try {
      c = await connection()
      if (leader) {
        // Still alive? A failed ping drops the connection and, with it, the lock.
        await c.query('SELECT 1')
        return true
      }
      const { rows } = await c.query<{ ok: boolean, pid: number }>(
        'SELECT pg_try_advisory_lock($1::int, hashtext($2)) AS ok, pg_backend_pid() AS pid', [LOCK_CLASS, `federate:controller:${opts.cluster}`])
      pid = rows[0]!.pid
      // Listening before leading: nothing announced after the lock was taken is missed.
      if (rows[0]!.ok) for (const ch of opts.channels ?? []) await c.query(`LISTEN ${c.escapeIdentifier(ch)}`)
      set(rows[0]!.ok)
      return leader
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'leader lock check failed')
      if (c) drop(c, err as Error)
      return false
    }
  }

  // One attempt at a time.
  const serial = async (): Promise<boolean> => {
    for (let b = busy; b; b = busy) await b.catch(() => {})
    const p = attempt()
    busy = p
    try {
      return await p
    } finally {
      if (busy === p) busy = undefined
    }
  }

  return {
    isLeader: () => leader && client !== undefined,
    tryAcquire: serial,
    start () {
      if (timer || closed) return
      const tick = () => {
        serial().catch(() => {}).finally(() => {
          if (!closed) timer = setTimeout(tick, opts.retryMs)
        })
      }
      tick()
    },
    backendPid: () => pid,
    async close () {
      if (closed) return
      closed = true
      if (timer) clearTimeout(timer)
      for (let b = busy; b; b = busy) await b.catch(() => {})
      const c = client
      client = undefined
      if (c) {
        if (leader) await c.query('SELECT pg_advisory_unlock($1::int, hashtext($2))', [LOCK_CLASS, `federate:controller:${opts.cluster}`]).catch(() => {})
        // Destroyed, not returned to the pool: a session lock must never outlive its owner.
        try { c.release(true) } catch {}
      }
      set(false)
    },
  }
}
