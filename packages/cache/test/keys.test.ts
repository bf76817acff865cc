import { test } from 'node:test'
import assert from 'node:assert/strict'
import { cacheKey, CacheError, MAX_KEY_BYTES } from '../src/index.ts'

test('a key is prefix, schema version and the application key', () => {
  assert.equal(cacheKey('fed', 3, 'flow:42@7'), 'fed:v3:flow:42@7')
})

test('long and unsafe keys are hashed with sha1 to stay under 250 bytes', () => {
  const long = 'route:' + 'x'.repeat(400)
  const k = cacheKey('fed', 1, long)
  assert.match(k, /^fed:v1:sha1:[0-9a-f]{40}$/)
  assert.ok(Buffer.byteLength(k) <= MAX_KEY_BYTES)
  assert.equal(cacheKey('fed', 1, long), k, 'stable')
  assert.notEqual(cacheKey('fed', 1, long + 'y'), k)
  for (const unsafe of ['has space', 'new\nline', 'tab\t', 'été', 'nul\0', 'sha1:looks-hashed']) {
    assert.match(cacheKey('fed', 1, unsafe), /^fed:v1:sha1:[0-9a-f]{40}$/, JSON.stringify(unsafe))
  }
  // Exactly at the limit stays readable; one more byte is hashed.
  const fits = 'k'.repeat(MAX_KEY_BYTES - 'fed:v1:'.length)
  assert.equal(cacheKey('fed', 1, fits), 'fed:v1:' + fits)
  assert.match(cacheKey('fed', 1, fits + 'k'), /sha1:/)
})

test('an empty or non-string key is refused', () => {
  assert.throws(() => cacheKey('fed', 1, ''), (e: CacheError) => e.code === 'FED_CACHE_INVALID_KEY')
  assert.throws(() => cacheKey('fed', 1, 42 as unknown as string), CacheError)
})
