import { createHash } from 'node:crypto'

/**
 * JSON with object keys sorted at every level, so the same document always hashes the same
 * (PostgreSQL's jsonb does not keep the key order it was given).
 */
export function canonicalJson (value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
    const sorted: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k]
    return sorted
  })
}

/** sha256 hex of the canonical JSON of `value`. */
export function jsonSha256 (value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex')
}
