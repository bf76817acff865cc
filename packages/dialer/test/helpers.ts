import type { TestContext } from 'node:test'
import { Readable } from 'node:stream'
import { Redis } from 'ioredis'
import { createPool, flows, migrate, type DbPool } from '@federate/db'
import { createTestDatabase, suffix } from '@federate/testkit'
import { createDialer, type Dialer, type DialerOptions } from '../src/index.ts'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

export interface Harness {
  pool: DbPool
  dialer: Dialer
  prefix: string
  /** The dialer's clock: starts at `start`, moves only when told. */
  clock: { now: Date, set: (d: Date | string) => void, advance: (sec: number) => void }
  /** A fresh dialer on the same database and Redis prefix (another app server). */
  another: (opts?: Partial<DialerOptions>) => Dialer
}

/**
 * A migrated test database with a published flow `survey`, and a dialer on a random Redis
 * prefix with a controllable clock (default: a Wednesday at 12:00 UTC). Everything is closed,
 * dropped and deleted after the test.
 */
export async function harness (t: TestContext, opts: Partial<DialerOptions> & { start?: string } = {}): Promise<Harness> {
  const db = await createTestDatabase('fedtest_dialer')
  await migrate(db.url)
  const pool = createPool(db.url, { max: 6 })
  await flows.createOrGetFlow(pool, 'survey', 'Survey')
  await flows.publishVersion(pool, 'survey', { start: 'hello', nodes: { hello: { type: 'hangup' } } })
  const prefix = `fedtest:${suffix()}`
  const clock = {
    now: new Date(opts.start ?? '2025-06-04T12:00:00Z'),
    set (d: Date | string) { clock.now = new Date(d) },
    advance (sec: number) { clock.now = new Date(clock.now.getTime() + sec * 1000) },
  }
  const dialers: Dialer[] = []
  const another = (more: Partial<DialerOptions> = {}) => {
    const d = createDialer({ pool, redisUrl: REDIS_URL, prefix, clock: () => clock.now, ...opts, ...more })
    dialers.push(d)
    return d
  }
  const dialer = another()
  t.after(async () => {
    await Promise.all(dialers.map((d) => d.close()))
    await pool.close()
    await db.drop()
    await deleteKeys(prefix)
  })
  return { pool, dialer, prefix, clock, another }
}

async function deleteKeys (prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      cursor = next
      if (keys.length) await redis.del(...keys)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}

export function csv (text: string): Readable {
  return Readable.from([text])
}

/** US numbers +1 212 555 0000.. in New York's zone. */
export function numbers (n: number, from = 0): string[] {
  return Array.from({ length: n }, (_, i) => `+1212555${String(from + i).padStart(4, '0')}`)
}

export async function campaignWith (h: Harness, contacts: string[], input: Record<string, unknown> = {}) {
  const c = await h.dialer.create({
    name: 'Test',
    flowId: 'survey',
    callerId: '+15550001111',
    rateCps: 1000,
    maxConcurrent: 1000,
    window: { start: '00:00', end: '24:00' },
    ...input,
  })
  if (contacts.length) {
    await h.dialer.importContacts(c.id, csv(`phone,name\n${contacts.map((p, i) => `${p},Person ${i}`).join('\n')}\n`))
  }
  return c
}

/**
 * The accounting identity: every settled attempt has one outcome, the outcome counts add up
 * to the dialled attempts, and so do the contacts' attempt counters.
 */
export async function assertAccounting (h: Harness, campaignId: string): Promise<void> {
  const s = await h.dialer.stats(campaignId)
  const sum = Object.values(s.outcomes).reduce((a, b) => a + b, 0)
  const tried = await h.pool.query('SELECT coalesce(sum(attempts), 0)::int AS n FROM contacts WHERE campaign_id = $1', [campaignId])
  const rows = await h.pool.query('SELECT count(*)::int AS n FROM attempts WHERE campaign_id = $1', [campaignId])
  const open = await h.pool.query('SELECT count(*)::int AS n FROM contacts WHERE campaign_id = $1 AND state IN (\'leased\', \'dialing\')', [campaignId])
  if (sum !== s.dialled) throw new Error(`outcomes add up to ${sum}, dialled is ${s.dialled}`)
  if (tried.rows[0].n !== s.dialled) throw new Error(`contacts' attempts add up to ${tried.rows[0].n}, dialled is ${s.dialled}`)
  if (rows.rows[0].n !== s.attempts) throw new Error(`${rows.rows[0].n} attempt rows, stats say ${s.attempts}`)
  if (open.rows[0].n !== s.open) throw new Error(`${open.rows[0].n} contacts leased or dialling, ${s.open} open attempts`)
}
