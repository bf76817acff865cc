import { checkId } from './ids.ts'
import type { Queryable } from './pool.ts'
import { mintSecret, parseSecret, secretMatches } from './secrets.ts'

const PREFIX = 'fit'

/**
 * Issues a bearer token for an instance (at launch). Returns the plaintext `fit_<id>_<secret>`
 * once; only sha256(secret) is stored. An instance may hold several valid tokens.
 */
export async function issueInstanceToken (db: Queryable, instanceId: string): Promise<string> {
  checkId(instanceId, 'instance id')
  const minted = mintSecret(PREFIX)
  await db.query('INSERT INTO instance_tokens (id, instance_id, token_hash) VALUES ($1, $2, $3)', [minted.id, instanceId, minted.hash])
  return minted.plaintext
}

/** The instance a token belongs to, or null for a malformed, unknown, wrong or revoked token. */
export async function verifyInstanceToken (db: Queryable, token: unknown): Promise<string | null> {
  const parsed = parseSecret(PREFIX, token)
  if (!parsed) return null
  const { rows } = await db.query<{ instance_id: string, token_hash: Buffer }>(
    'SELECT instance_id, token_hash FROM instance_tokens WHERE id = $1 AND revoked_at IS NULL', [parsed.id])
  const row = rows[0]
  return row && secretMatches(parsed.secret, row.token_hash) ? row.instance_id : null
}

/** Revokes every token of an instance (at termination); returns how many were still valid. */
export async function revokeInstanceTokens (db: Queryable, instanceId: string): Promise<number> {
  const { rowCount } = await db.query(
    'UPDATE instance_tokens SET revoked_at = now() WHERE instance_id = $1 AND revoked_at IS NULL', [instanceId])
  return rowCount ?? 0
}
