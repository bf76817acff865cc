import { randomBytes } from 'node:crypto'
import type pg from 'pg'
import { DbError } from './errors.ts'
import type { Queryable } from './pool.ts'
import { withTransaction } from './transaction.ts'

/** The state-token keyring shared by every app server: sign with `current`, verify with any of `keys`. */
export interface Keyring {
  current: string
  /** kid -> secret. A null-prototype object: a kid read from an untrusted token is never `__proto__`'s value. */
  keys: Record<string, Buffer>
}

// A call lasts at most 24 h (durationSec's maximum), so a retired key must verify that long.
const DEFAULT_GRACE_MS = 25 * 3600 * 1000
const ROTATE_LOCK = 0x66_65_64_6b // 'fedk'

function newKid (): string {
  return randomBytes(9).toString('base64url')
}

/**
 * Inserts a current key if there is none (random 32 bytes). Returns its kid, or null when a
 * current key already existed. Safe under concurrency: the partial unique index admits one.
 */
export async function ensureSigningKey (db: Queryable): Promise<string | null> {
  const { rows } = await db.query<{ kid: string }>(
    `INSERT INTO signing_keys (kid, secret)
     SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)
     ON CONFLICT DO NOTHING RETURNING kid`,
    [newKid(), randomBytes(32)])
  return rows[0]?.kid ?? null
}

/**
 * Loads the current key and every key retired less than `graceMs` ago (default 25 h).
 * Throws FED_DB_NO_SIGNING_KEY when the database has no current key (not migrated).
 */
export async function loadKeyring (db: Queryable, { graceMs = DEFAULT_GRACE_MS }: { graceMs?: number } = {}): Promise<Keyring> {
  const { rows } = await db.query<{ kid: string, secret: Buffer, retired_at: Date | null }>(
    `SELECT kid, secret, retired_at FROM signing_keys
     WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)
     ORDER BY created_at`,
    [graceMs / 1000])
  const keys: Record<string, Buffer> = Object.create(null)
  let current: string | undefined
  for (const row of rows) {
    keys[row.kid] = row.secret
    if (row.retired_at === null) current = row.kid
  }
  if (!current) throw new DbError('FED_DB_NO_SIGNING_KEY')
  return { current, keys }
}

/**
 * Makes a new random key current and retires the previous one (it keeps verifying for the grace
 * period). Returns the new kid. Concurrent rotations run one after the other.
 */
export async function rotateSigningKey (pool: pg.Pool): Promise<string> {
  return await withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [ROTATE_LOCK])
    await client.query('UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL')
    const kid = newKid()
    await client.query('INSERT INTO signing_keys (kid, secret) VALUES ($1, $2)', [kid, randomBytes(32)])
    return kid
  })
}
