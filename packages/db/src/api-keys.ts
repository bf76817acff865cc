import { DbError } from './errors.ts'
import type { Queryable } from './pool.ts'
import { mintSecret, parseSecret, secretMatches } from './secrets.ts'

const PREFIX = 'fed'

export const API_KEY_ROLES = ['admin', 'operator', 'viewer'] as const
export type ApiKeyRole = typeof API_KEY_ROLES[number]

export interface ApiKey {
  id: string
  name: string
  role: ApiKeyRole
  createdAt: Date
  lastUsedAt: Date | null
  revokedAt: Date | null
}

interface ApiKeyRow { id: string, name: string, role: ApiKeyRole, created_at: Date, last_used_at: Date | null, revoked_at: Date | null }
const toApiKey = (r: ApiKeyRow): ApiKey =>
  ({ id: r.id, name: r.name, role: r.role, createdAt: r.created_at, lastUsedAt: r.last_used_at, revokedAt: r.revoked_at })

/**
 * Creates an operator API key. Returns the plaintext `fed_<id>_<secret>` once (only its sha256
 * is stored). Throws FED_DB_INVALID_INPUT for an unknown role or an empty name.
 */
export async function createApiKey (db: Queryable, role: ApiKeyRole, name: string): Promise<{ id: string, key: string, role: ApiKeyRole, name: string }> {
  if (!API_KEY_ROLES.includes(role)) throw new DbError('FED_DB_INVALID_INPUT', `role must be one of ${API_KEY_ROLES.join(', ')} (got ${JSON.stringify(role)})`)
  if (typeof name !== 'string' || name.length < 1 || name.length > 256) throw new DbError('FED_DB_INVALID_INPUT', 'name must be 1 to 256 characters')
  const minted = mintSecret(PREFIX)
  await db.query('INSERT INTO api_keys (id, name, role, key_hash) VALUES ($1, $2, $3, $4)', [minted.id, name, role, minted.hash])
  return { id: minted.id, key: minted.plaintext, role, name }
}

/**
 * The key's id and role, or null for a malformed, unknown, wrong or revoked key. Records when the
 * key was last used (at most once a minute per key, so verification stays a read).
 */
export async function verifyApiKey (db: Queryable, key: unknown): Promise<{ id: string, role: ApiKeyRole, name: string } | null> {
  const parsed = parseSecret(PREFIX, key)
  if (!parsed) return null
  const { rows } = await db.query<{ id: string, role: ApiKeyRole, name: string, key_hash: Buffer, last_used_at: Date | null }>(
    'SELECT id, role, name, key_hash, last_used_at FROM api_keys WHERE id = $1 AND revoked_at IS NULL', [parsed.id])
  const row = rows[0]
  if (!row || !secretMatches(parsed.secret, row.key_hash)) return null
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > 60_000) {
    await db.query('UPDATE api_keys SET last_used_at = now() WHERE id = $1', [row.id])
  }
  return { id: row.id, role: row.role, name: row.name }
}

/** Revokes a key; false when it is unknown or already revoked. */
export async function revokeApiKey (db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [id])
  return (rowCount ?? 0) > 0
}

/** Every key (never its secret), newest first; revoked ones only when asked. */
export async function listApiKeys (db: Queryable, { includeRevoked = false }: { includeRevoked?: boolean } = {}): Promise<ApiKey[]> {
  const { rows } = await db.query<ApiKeyRow>(
    `SELECT id, name, role, created_at, last_used_at, revoked_at FROM api_keys
     WHERE $1 OR revoked_at IS NULL ORDER BY created_at DESC, id`, [includeRevoked])
  return rows.map(toApiKey)
}
