import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { createPlacement, mayPlace, type Room } from '../src/placement.ts'
import { REDIS_URL, assertAccounting, campaignWith, harness, numbers } from './helpers.ts'

const room = (instanceId: string, since: number, free: number, at = 10_000): Room => ({ instanceId, since, free, at })

test('an instance is placed calls only when none ranked above it (handed calls more recently) has fresh room', () => {
  const now = 10_000
  const me = { instanceId: 'b', since: 2000 }
  assert.equal(mayPlace(me, [], now, 1000), true, 'alone')
  assert.equal(mayPlace(me, [room('b', 2000, 50)], now, 1000), true, 'only itself')
  assert.equal(mayPlace(me, [room('a', 1000, 50)], now, 1000), true, 'an older one with room waits for it')
  assert.equal(mayPlace(me, [room('c', 3000, 5)], now, 1000), false, 'a newer one with room goes first')
  assert.equal(mayPlace(me, [room('c', 3000, 0)], now, 1000), true, 'a newer one that is full does not count')
  assert.equal(mayPlace(me, [room('c', 3000, 5, now - 1001)], now, 1000), true, 'nor one that stopped asking')
  assert.equal(mayPlace(me, [room('c', 3000, 5, now - 1000)], now, 1000), false, 'fresh up to freshMs')
  // Same age: the id breaks the tie, the same way for both.
  assert.equal(mayPlace(me, [room('c', 2000, 5)], now, 1000), false)
  assert.equal(mayPlace({ instanceId: 'c', since: 2000 }, [room('b', 2000, 5)], now, 1000), true)
  // Exactly one of any set of instances with fresh room may be placed: the newest.
  const rooms = [room('a', 1000, 3), room('b', 2000, 9), room('c', 3000, 1), room('d', 4000, 0), room('e', 5000, 7, 0)]
  assert.deepEqual(rooms.filter((r) => r.free > 0 && now - r.at <= 1000 && mayPlace(r, rooms, now, 1000)).map((r) => r.instanceId), ['c'])
  // With a batch (the calls one pull brings), room above smaller than the batch does not hold it back:
  // c has 1 free, b 9 -> with a batch of 5, b may take too (1 < 5); a not (1 + 9 >= 5).
  assert.deepEqual(rooms.filter((r) => r.free > 0 && now - r.at <= 1000 && mayPlace(r, rooms, now, 1000, 5)).map((r) => r.instanceId), ['b', 'c'])
  assert.deepEqual(rooms.filter((r) => r.free > 0 && now - r.at <= 1000 && mayPlace(r, rooms, now, 1000, 11)).map((r) => r.instanceId), ['a', 'b', 'c'])
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
