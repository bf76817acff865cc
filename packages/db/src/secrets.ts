import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

// Credentials look like `<prefix>_<id>_<secret>`: the id finds the row, the secret is checked
// against its sha256 (never stored). 16 hex id chars; 32 random bytes of secret in base64url.

export interface MintedSecret {
  id: string
  /** The full credential, shown once. */
  plaintext: string
  hash: Buffer
}

export function mintSecret (prefix: string): MintedSecret {
  const id = randomBytes(8).toString('hex')
  const secret = randomBytes(32).toString('base64url')
  return { id, plaintext: `${prefix}_${id}_${secret}`, hash: hashSecret(secret) }
}

/** `{ id, secret }` of a well-formed credential with this prefix, else null. */
export function parseSecret (prefix: string, value: unknown): { id: string, secret: string } | null {
  if (typeof value !== 'string' || value.length !== prefix.length + 1 + 16 + 1 + 43) return null
  const m = /^([a-z]+)_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(value)
  if (!m || m[1] !== prefix) return null
  return { id: m[2]!, secret: m[3]! }
}

export function hashSecret (secret: string): Buffer {
  return createHash('sha256').update(secret).digest()
}

/** Constant-time comparison of the secret's digest with the stored one. */
export function secretMatches (secret: string, storedHash: Buffer): boolean {
  const digest = hashSecret(secret)
  return storedHash.length === digest.length && timingSafeEqual(digest, storedHash)
}
