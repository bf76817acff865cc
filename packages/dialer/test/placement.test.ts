import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { createPlacement, mayPlace, rankedAbove, type Room } from '../src/placement.ts'
import { REDIS_URL, assertAccounting, campaignWith, harness, numbers } from './helpers.ts'

const NOW = 100_000
const room = (instanceId: string, since: number, free: number, at = NOW): Room => ({ instanceId, since, free, at })

test('placement order: instances filling now by recency, then the others by most free channels', () => {
  const r = (id: string, since: number, free: number) => room(id, since, free)
  // Filling now (handed calls within 5 s): the most recent first, whatever their room.
  assert.equal(rankedAbove(r('c', 99_000, 1), r('b', 98_000, 90), NOW, 5000), true)
  assert.equal(rankedAbove(r('b', 98_000, 90), r('c', 99_000, 1), NOW, 5000), false)
  // Filling now beats idle.
  assert.equal(rankedAbove(r('c', 99_000, 1), r('x', 10_000, 100), NOW, 5000), true)
  // Idle: the most free first (late calls recycle one nearly empty instance), then the id.
  assert.equal(rankedAbove(r('y', 20_000, 60), r('x', 10_000, 30), NOW, 5000), true)
  assert.equal(rankedAbove(r('x', 10_000, 30), r('y', 20_000, 60), NOW, 5000), false)
  assert.equal(rankedAbove(r('z', 1_000, 30), r('x', 10_000, 30), NOW, 5000), true)
})

test('an instance is placed calls only when those ranked above it have less fresh room than one pull brings', () => {
  const me = room('b', 98_000, 10)
  assert.equal(mayPlace(me, [], NOW, 1000), true, 'alone')
  assert.equal(mayPlace(me, [me], NOW, 1000), true, 'only itself')
  assert.equal(mayPlace(me, [room('a', 97_000, 50)], NOW, 1000), true, 'one filled before it waits')
  assert.equal(mayPlace(me, [room('c', 99_000, 5)], NOW, 1000), false, 'one handed calls since goes first')
  assert.equal(mayPlace(me, [room('c', 99_000, 0)], NOW, 1000), true, 'unless it is full')
  assert.equal(mayPlace(me, [room('c', 99_000, 5, NOW - 1001)], NOW, 1000), true, 'or stopped asking')
  assert.equal(mayPlace(me, [room('c', 99_000, 5, NOW - 1000)], NOW, 1000), false, 'fresh up to freshMs')
  // Room above smaller than a pull's calls does not hold it back.
  assert.equal(mayPlace(me, [room('c', 99_000, 5)], NOW, 1000, 6), true)
  assert.equal(mayPlace(me, [room('c', 99_000, 5), room('d', 99_500, 3)], NOW, 1000, 6), false)
  // Exactly one of a set may place with a batch of 1: the top of the order.
  const rooms = [room('a', 10_000, 3), room('b', 20_000, 90), room('c', 30_000, 40), room('d', 99_000, 0), room('e', 99_500, 7, 0)]
  const may = (batch: number) => rooms.filter((r) => r.free > 0 && NOW - r.at <= 1000 && mayPlace(r, rooms, NOW, 1000, batch)).map((r) => r.instanceId)
  assert.deepEqual(may(1), ['b'], 'none filling (d is full, e stale): the most free')
  assert.deepEqual(may(91), ['b', 'c'])
  assert.deepEqual(may(131), ['a', 'b', 'c'])
})

test('dialer.next hands a campaign\'s calls to the instance with room handed calls most recently, across app servers', async (t) => {
  // One call per pull (a 1 ms pull at 1,000 cps): any room above an instance holds it back.
  const h = await harness(t, { bufferSec: 2, placementPullMs: 1 })
  const other = h.another() // a second app server: same Redis, same board
  const redis = new Redis(REDIS_URL)
  t.after(() => { redis.disconnect() })
  // The board as every app server sees it: an instance that asked when no call was ready keeps its room.
  const board = createPlacement({ redis, key: `${h.prefix}:room` })
  const c = await campaignWith(h, numbers(600), { rateCps: 1000, maxConcurrent: 1000 })
  await h.dialer.start(c.id)
  assert.equal((await h.dialer.tick()).queued, 600)

  // The first instance to ask is alone: it is served.
  assert.equal((await h.dialer.next('i-old', 20)).length, 20)
  await sleep(50) // the board update after a lease is not waited for
  // A newer one has room: the older one gets nothing, from either server, though calls are ready...
  await board.report('i-new', 50, Date.now())
  assert.deepEqual(await h.dialer.next('i-old', 20), [])
  assert.deepEqual(await other.next('i-old', 20), [])
  // ...as the newer one's own request shows; it fills its room, and then the older one is served.
  assert.equal((await other.next('i-new', 50)).length, 50)
  await sleep(50) // the board update after a lease is not waited for
  assert.equal((await h.dialer.next('i-old', 20)).length, 20)
  // i-old was handed calls last: it now ranks first; with room again (calls of its ended), i-new
  // with room again waits for it.
  await sleep(50)
  await board.report('i-old', 10, Date.now())
  await board.report('i-new', 30, Date.now())
  assert.deepEqual(await other.next('i-new', 30), [])
  assert.equal((await other.next('i-old', 10)).length, 10)
  // A newer instance that stops asking (drained, gone) stops counting after 600 ms.
  await sleep(50)
  await board.report('i-newest', 100, Date.now())
  assert.deepEqual(await h.dialer.next('i-old', 5), [])
  await sleep(1100)
  assert.equal((await h.dialer.next('i-old', 5)).length, 5)
  await assertAccounting(h, c.id)
})

test('room above smaller than one pull\'s calls does not hold an instance back', async (t) => {
  // 1,000 cps x 300 ms: 300 calls per pull. A newer instance with 50 free cannot take them all.
  const h = await harness(t, { bufferSec: 2 })
  const redis = new Redis(REDIS_URL)
  t.after(() => { redis.disconnect() })
  const board = createPlacement({ redis, key: `${h.prefix}:room` })
  const c = await campaignWith(h, numbers(600), { rateCps: 1000, maxConcurrent: 1000 })
  await h.dialer.start(c.id)
  await h.dialer.tick()
  assert.equal((await h.dialer.next('i-old', 20)).length, 20)
  await sleep(50)
  await board.report('i-new', 50, Date.now())
  assert.equal((await h.dialer.next('i-old', 20)).length, 20)
  await sleep(50)
  // An instance newer than i-old's last lease with more room than a pull brings: i-old waits.
  await board.report('i-newer', 400, Date.now())
  assert.deepEqual(await h.dialer.next('i-old', 20), [])
})

test('placement "any" serves whoever asks', async (t) => {
  const h = await harness(t, { bufferSec: 2, placement: 'any' })
  const c = await campaignWith(h, numbers(100), { rateCps: 1000, maxConcurrent: 1000 })
  await h.dialer.start(c.id)
  await h.dialer.tick()
  assert.equal((await h.dialer.next('i-old', 5)).length, 5)
  assert.equal((await h.dialer.next('i-new', 50)).length, 50)
  assert.equal((await h.dialer.next('i-old', 5)).length, 5)
})
