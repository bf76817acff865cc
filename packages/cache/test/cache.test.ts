import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { Registry } from 'prom-client'
import { suffix, waitFor } from '@federate/testkit'
import { createCache, CacheError, type CacheOptions } from '../src/index.ts'
import { startMemcached } from './helpers.ts'

type Memcached = Awaited<ReturnType<typeof startMemcached>>

async function setup (t: { after: (fn: () => unknown) => void }, over: Partial<CacheOptions> = {}) {
  const mc = await startMemcached()
  t.after(() => mc.close())
  const registry = new Registry()
  const cache = createCache({ servers: [mc.server], prefix: `t${suffix()}`, registry, ...over })
  t.after(() => cache.close())
  return { mc, cache, registry }
}

/** A loader that counts its calls. */
function counting<T> (value: T, delayMs = 0) {
  const loader = async (): Promise<T> => {
    loader.calls++
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
    return value
  }
  loader.calls = 0
  return loader
}

/** Items currently stored in one memcached (its `stats` over the text protocol). */
function items (mc: Memcached): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: mc.port })
    let text = ''
    s.on('connect', () => s.write('stats\r\n'))
    s.on('data', (d) => {
      text += d.toString()
      if (text.endsWith('END\r\n')) {
        s.destroy()
        resolve(Number(/STAT curr_items (\d+)/.exec(text)?.[1]))
      }
    })
    s.on('error', reject)
  })
}

test('a miss calls the loader and stores the value; the next get is a hit', async (t) => {
  const { cache, registry } = await setup(t)
  const loader = counting({ id: 7, nodes: ['a', 'b'] })
  assert.deepEqual(await cache.get('flow:7@1', loader), { id: 7, nodes: ['a', 'b'] })
  assert.deepEqual(await cache.get('flow:7@1', loader), { id: 7, nodes: ['a', 'b'] })
  assert.equal(loader.calls, 1)
  const stats = cache.stats()
  assert.equal(stats.hits, 1)
  assert.equal(stats.misses, 1)
  assert.equal(stats.failOpen, 0)
  const text = await registry.metrics()
  assert.match(text, /federate_cache_hits_total\{cache="t[0-9a-f]+"\} 1/)
  assert.match(text, /federate_cache_misses_total\{cache="t[0-9a-f]+"\} 1/)
  // null is a value (a number with no route), undefined is not stored.
  const none = counting(null)
  assert.equal(await cache.get('route:+15550000', none), null)
  assert.equal(await cache.get('route:+15550000', none), null)
  assert.equal(none.calls, 1)
  const nothing = counting(undefined)
  await cache.get('nothing', nothing)
  await cache.get('nothing', nothing)
  assert.equal(nothing.calls, 2)
})

test('an entry expires after its ttl', async (t) => {
  const { cache } = await setup(t)
  const loader = counting('v')
  // memcached's clock ticks in whole seconds: a 2 s entry lives at least 1 s and is gone within 3.
  await cache.get('short', loader, { ttlSec: 2 })
  await cache.get('short', loader, { ttlSec: 2 })
  assert.equal(loader.calls, 1)
  await waitFor(async () => { await cache.get('short', loader, { ttlSec: 2 }); return loader.calls === 2 }, { timeoutMs: 4000, intervalMs: 100, what: 'expiry' })
})

test('delete removes an entry, and says whether there was one', async (t) => {
  const { cache } = await setup(t)
  const loader = counting(1)
  await cache.get('k', loader)
  assert.equal(await cache.delete('k'), true)
  assert.equal(await cache.delete('k'), false)
  await cache.get('k', loader)
  assert.equal(loader.calls, 2)
})

test('a delete during a load keeps that load from storing its (possibly stale) value', async (t) => {
  const { cache } = await setup(t)
  const loader = counting('old', 50)
  const pending = cache.get('route:1', loader)
  await new Promise((resolve) => setTimeout(resolve, 10))
  await cache.delete('route:1')
  assert.equal(await pending, 'old')
  const fresh = counting('new')
  assert.equal(await cache.get('route:1', fresh), 'new')
  assert.equal(fresh.calls, 1)
})

test('100 concurrent gets of a missing key call the loader once', async (t) => {
  const { cache } = await setup(t)
  const loader = counting({ big: 'x'.repeat(10_000) }, 30)
  const results = await Promise.all(Array.from({ length: 100 }, () => cache.get('hot', loader)))
  assert.equal(loader.calls, 1)
  assert.ok(results.every((r) => r.big.length === 10_000))
  assert.equal(cache.stats().inflight, 0)
})

test('a failing loader rejects every waiting caller and stores nothing', async (t) => {
  const { cache } = await setup(t)
  let calls = 0
  const boom = async (): Promise<number> => { calls++; await new Promise((resolve) => setTimeout(resolve, 10)); throw new Error('db down') }
  const all = await Promise.allSettled(Array.from({ length: 10 }, () => cache.get('bad', boom)))
  assert.equal(calls, 1)
  assert.ok(all.every((r) => r.status === 'rejected' && (r.reason as Error).message === 'db down'))
  assert.equal(await cache.get('bad', async () => 5), 5)
})

test('long and unsafe keys work end to end', async (t) => {
  const { cache } = await setup(t)
  const loader = counting('ok')
  for (const key of ['x'.repeat(1000), 'with space', 'line\nbreak', 'ünïcødé']) {
    assert.equal(await cache.get(key, loader), 'ok')
    assert.equal(await cache.get(key, loader), 'ok')
  }
  assert.equal(loader.calls, 4)
})

test('memcached stopped mid-test: 100 gets answer from the loader in under a second, and it recovers after a restart', async (t) => {
  const { mc, cache } = await setup(t, { timeoutMs: 100, cooldownMs: 300 })
  const loader = counting('fresh')
  await cache.get('a', loader)
  await mc.stop()

  const started = Date.now()
  for (let i = 0; i < 100; i++) assert.equal(await cache.get(`key${i}`, loader), 'fresh')
  const took = Date.now() - started
  assert.ok(took < 1000, `100 gets took ${took} ms`)
  const stats = cache.stats()
  assert.equal(stats.failOpen, 100)
  assert.ok(stats.errors >= 1 && stats.errors <= 3, `a dead server is not hammered (${stats.errors} errors)`)
  assert.deepEqual(stats.servers.map((s) => s.up), [false])

  await mc.start()
  await waitFor(async () => { await cache.get('b', loader); return cache.stats().servers[0]?.up }, { timeoutMs: 3000, what: 'recovery' })
  const calls = loader.calls
  await cache.get('b', loader)
  await cache.get('b', loader)
  assert.equal(loader.calls, calls, 'hits again after the restart')
})

test('a frozen memcached costs one timeout, then gets skip it until it answers again', async (t) => {
  const { mc, cache } = await setup(t, { timeoutMs: 80, cooldownMs: 300 })
  const loader = counting(1)
  await cache.get('warm', loader)
  await mc.pause()
  t.after(() => mc.resume())

  const started = Date.now()
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => cache.get(`k${i}`, loader)))
  const took = Date.now() - started
  assert.ok(results.every((r) => r === 1))
  assert.ok(took < 1000, `100 gets took ${took} ms`)
  assert.equal(cache.stats().failOpen, 100, JSON.stringify(cache.stats()))

  mc.resume()
  await waitFor(async () => { await cache.get('warm', loader); return cache.stats().servers[0]?.up }, { timeoutMs: 3000, what: 'recovery' })
})

test('a busy event loop is not mistaken for a slow memcached', async (t) => {
  const { cache } = await setup(t, { timeoutMs: 50 })
  for (let i = 0; i < 20; i++) await cache.get(`k${i}`, async () => i)
  const pending = Array.from({ length: 20 }, (_, i) => cache.get(`k${i}`, async () => -1))
  const until = Date.now() + 300
  while (Date.now() < until) { /* busy */ } // the replies arrive while the loop is blocked past the deadline
  assert.deepEqual(await Promise.all(pending), Array.from({ length: 20 }, (_, i) => i))
  assert.equal(cache.stats().failOpen, 0)
  assert.deepEqual(cache.stats().servers.map((s) => s.up), [true])
})

test('with two servers the ring spreads keys over both', async (t) => {
  const a = await startMemcached()
  const b = await startMemcached()
  t.after(() => Promise.all([a.close(), b.close()]))
  const cache = createCache({ servers: [a.server, b.server], prefix: `t${suffix()}` })
  t.after(() => cache.close())
  for (let i = 0; i < 200; i++) await cache.get(`flow:${i}`, async () => i)
  const [na, nb] = [await items(a), await items(b)]
  assert.equal(na + nb, 200)
  assert.ok(na > 60 && nb > 60, `spread ${na}/${nb}`)
  for (let i = 0; i < 200; i++) assert.equal(await cache.get(`flow:${i}`, async () => -1), i)
  assert.equal(cache.stats().hits, 200)
})

test('a disabled cache always calls the loader', async (t) => {
  for (const options of [{ servers: [] }, { servers: ['127.0.0.1:1'], enabled: false }]) {
    const cache = createCache({ prefix: 'off', ...options })
    t.after(() => cache.close())
    const loader = counting('db')
    await Promise.all([cache.get('k', loader), cache.get('k', loader)])
    await cache.get('k', loader)
    assert.equal(loader.calls, 3)
    assert.equal(cache.stats().enabled, false)
    assert.equal(await cache.delete('k'), false)
  }
})

test('bumping the schema version leaves old entries behind', async (t) => {
  const { mc } = await setup(t)
  const prefix = `t${suffix()}`
  const v1 = createCache({ servers: [mc.server], prefix, schemaVersion: 1 })
  const v2 = createCache({ servers: [mc.server], prefix, schemaVersion: 2 })
  t.after(() => Promise.all([v1.close(), v2.close()]))
  await v1.get('flow:1', async () => ({ shape: 'old' }))
  assert.deepEqual(await v2.get('flow:1', async () => ({ shape: 'new' })), { shape: 'new' })
  assert.deepEqual(await v1.get('flow:1', async () => ({ shape: 'x' })), { shape: 'old' })
})

test('two caches share one registry, each with its own label', async (t) => {
  const { mc, registry } = await setup(t)
  const flows = createCache({ servers: [mc.server], prefix: `f${suffix()}`, name: 'flows', registry })
  const routes = createCache({ servers: [mc.server], prefix: `r${suffix()}`, name: 'routes', registry })
  t.after(() => Promise.all([flows.close(), routes.close()]))
  await flows.get('a', async () => 1)
  await routes.get('a', async () => 1)
  await routes.get('a', async () => 1)
  const text = await registry.metrics()
  assert.match(text, /federate_cache_misses_total\{cache="flows"\} 1/)
  assert.match(text, /federate_cache_hits_total\{cache="routes"\} 1/)
})

test('bad options and keys are refused with FED_CACHE_ errors', async (t) => {
  const bad: Array<Partial<CacheOptions>> = [
    { prefix: 'has space' },
    { prefix: '' },
    { servers: ['localhost'] },
    { servers: ['127.0.0.1:99999'] },
    { defaultTtlSec: -1 },
    { defaultTtlSec: 40 * 24 * 3600 },
    { timeoutMs: 0 },
    { schemaVersion: 1.5 },
  ]
  for (const over of bad) {
    assert.throws(() => createCache({ servers: [], prefix: 'ok', ...over }), (e: CacheError) => e.code === 'FED_CACHE_INVALID_OPTIONS', JSON.stringify(over))
  }
  const { cache } = await setup(t)
  await assert.rejects(cache.get('', async () => 1), (e: CacheError) => e.code === 'FED_CACHE_INVALID_KEY')
  await assert.rejects(cache.get('k', async () => 1, { ttlSec: 1.5 }), (e: CacheError) => e.code === 'FED_CACHE_INVALID_OPTIONS')
})

test('close is idempotent, and a closed cache reads through to the loader', async (t) => {
  const { cache } = await setup(t)
  await cache.get('k', async () => 1)
  await cache.close()
  await cache.close()
  assert.equal(await cache.get('k', async () => 2), 2)
})
