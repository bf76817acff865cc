import { createHash } from 'node:crypto'
import { CACHE_ERRORS, CacheError } from './errors.ts'

/** Memcached's limit on a key's length, in bytes. */
export const MAX_KEY_BYTES = 250

const PREFIX = /^[A-Za-z0-9_.:-]{1,64}$/
// Printable ASCII without space: safe in both of memcached's protocols.
const SAFE = /^[\x21-\x7e]+$/

export function checkPrefix (prefix: string): void {
  if (!PREFIX.test(prefix)) {
    throw new CacheError(CACHE_ERRORS.INVALID_OPTIONS, `cache prefix must be 1-64 characters of A-Z a-z 0-9 _ . : - (got ${JSON.stringify(prefix)})`)
  }
}

/**
 * The memcached key for an application key: `<prefix>:v<schemaVersion>:<key>`. Bumping the
 * schema version orphans every old entry at once (they age out), so a deploy that changes a
 * cached value's shape never reads the old shape. Keys that are too long, contain spaces,
 * control or non-ASCII characters, or start with `sha1:` are replaced by `sha1:<hex of key>`.
 */
export function cacheKey (prefix: string, schemaVersion: number, key: string): string {
  if (typeof key !== 'string' || key === '') {
    throw new CacheError(CACHE_ERRORS.INVALID_KEY, `cache key must be a non-empty string (got ${JSON.stringify(key)})`)
  }
  const head = `${prefix}:v${schemaVersion}:`
  if (SAFE.test(key) && !key.startsWith('sha1:') && head.length + key.length <= MAX_KEY_BYTES) return head + key
  return `${head}sha1:${createHash('sha1').update(key, 'utf8').digest('hex')}`
}
