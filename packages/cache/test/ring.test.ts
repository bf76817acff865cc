import { test } from 'node:test'
import assert from 'node:assert/strict'
import { HashRing } from '../src/index.ts'

const keys = Array.from({ length: 12_000 }, (_, i) => `fed:v1:flow:${i}@${i % 7}`)

test('the ring spreads keys evenly over three servers (each within 15% of a third)', () => {
  const ring = new HashRing(['10.0.0.1:11211', '10.0.0.2:11211', '10.0.0.3:11211'])
  const counts = new Map<string, number>()
  for (const k of keys) counts.set(ring.get(k), (counts.get(ring.get(k)) ?? 0) + 1)
  assert.equal(counts.size, 3)
  for (const n of counts.values()) assert.ok(Math.abs(n - keys.length / 3) < 0.15 * keys.length / 3, `uneven: ${[...counts.values()]}`)
})

test('adding a fourth server moves only about a quarter of the keys, all to the new server', () => {
  const before = new HashRing(['a:1', 'b:1', 'c:1'])
  const after = new HashRing(['a:1', 'b:1', 'c:1', 'd:1'])
  let moved = 0
  for (const k of keys) {
    const from = before.get(k)
    const to = after.get(k)
    if (from !== to) {
      moved++
      assert.equal(to, 'd:1', 'a key only ever moves to the new server')
    }
  }
  const share = moved / keys.length
  assert.ok(share > 0.15 && share < 0.35, `moved ${(share * 100).toFixed(1)}%`)
  // Modulo hashing, memjs's default, would have moved about three quarters.
})

test('the ring is deterministic, ignores server order and duplicates, and refuses an empty list', () => {
  const a = new HashRing(['x:1', 'y:1', 'z:1'])
  const b = new HashRing(['z:1', 'x:1', 'y:1', 'x:1'])
  assert.deepEqual(keys.slice(0, 500).map((k) => a.get(k)), keys.slice(0, 500).map((k) => b.get(k)))
  assert.equal(new HashRing(['only:1']).get('anything'), 'only:1')
  assert.throws(() => new HashRing([]), /at least one server/)
})
