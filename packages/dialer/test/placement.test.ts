import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { instances } from '@federate/db'
import { createPlacement, filling, mayPlace, offered, rankedAbove, type PlacementRules, type Room } from '../src/placement.ts'
import { cohortMs, WIND_DOWN_SEC, windingDown } from '../src/wind-down.ts'
import { REDIS_URL, assertAccounting, campaignWith, harness, numbers } from './helpers.ts'

const NOW = 100_000
// A room whose cohort began at `since` unless told (start).
const room = (instanceId: string, since: number, free: number, at = NOW, start = since): Room => ({ instanceId, since, start, free, at })
const RULES: PlacementRules = { cohortMs: 4000 }

test('placement order: instances filling now by least room left, then the others by most free channels', () => {
  const r = (id: string, since: number, free: number, start = since) => room(id, since, free, NOW, start)
  const above = (a: Room, b: Room) => rankedAbove(a, b, NOW, RULES)
  // Filling now (a cohort under way, handed calls lately): the least room left first (finish it).
  assert.equal(above(r('c', 98_000, 1), r('b', 99_000, 90)), true)
  assert.equal(above(r('b', 99_000, 90), r('c', 98_000, 1)), false)
  assert.equal(above(r('b', 99_000, 9), r('c', 98_000, 9)), false, 'ties by id')
  // Filling now beats idle.
  assert.equal(above(r('c', 99_000, 1), r('x', 10_000, 100)), true)
  // Idle: the most free first (late calls recycle one nearly empty instance), then the id.
  assert.equal(above(r('y', 20_000, 60), r('x', 10_000, 30)), true)
  assert.equal(above(r('x', 10_000, 30), r('y', 20_000, 60)), false)
  assert.equal(above(r('z', 1_000, 30), r('x', 10_000, 30)), true)
  // Never handed calls (since 0), however new: idle, not filling.
  assert.equal(above(r('c', 99_000, 80), r('n', 0, 100)), true)
  assert.equal(above(r('n', 0, 100), r('x', 10_000, 30)), true)
  assert.equal(above(r('n', 0, 100), r('c', 99_000, 80)), false)
  // A cohort ends after cohortMs, even if the instance is still handed calls: then it is idle.
  assert.equal(filling(r('f', 99_500, 4, 96_500), NOW, RULES), true)
  assert.equal(filling(r('f', 99_500, 4, 95_999), NOW, RULES), false)
  assert.equal(filling(r('f', 94_000, 4, 94_000), NOW, { cohortMs: 10_000 }), false, 'and handed nothing for 5 s')
  assert.equal(above(r('n', 0, 100), r('f', 99_500, 4, 95_000)), true)
})

test('while a campaign winds down, the gaps of a past cohort are not offered', () => {
  const tight: PlacementRules = { cohortMs: 4000, gapMax: 15, tight: true }
  const gap = room('g', 90_000, 12)
  assert.equal(offered(gap, NOW, RULES), true, 'any room before the wind-down')
  assert.equal(offered(gap, NOW, tight), false)
  assert.equal(offered(room('g', 90_000, 16), NOW, tight), true, 'more than gapMax: its calls are ending, room')
  assert.equal(offered(room('g', 99_000, 3, NOW, 97_000), NOW, tight), true, 'its cohort under way')
  assert.equal(offered(room('n', 0, 5), NOW, tight), true, 'never handed calls')
  assert.equal(offered(room('z', 99_000, 0), NOW, RULES), false, 'full')
  // Not offered: it is not placed, and does not hold others back.
  assert.equal(mayPlace(gap, [gap], NOW, 1000, 1, tight), false)
  assert.equal(mayPlace(room('b', 50_000, 30), [gap, room('b', 50_000, 30)], NOW, 1000, 1, tight), true)
  assert.equal(mayPlace(room('b', 50_000, 10), [gap, room('b', 50_000, 10)], NOW, 1000, 1, RULES), false, 'loose: the gap has more')
})

test('an instance is placed calls only when those ranked above it have less fresh room than one pull brings', () => {
  const may1 = (me: Room, rooms: Room[], batch = 1) => mayPlace(me, rooms, NOW, 1000, batch, RULES)
  const me = room('b', 98_000, 10)
  assert.equal(may1(me, []), true, 'alone')
  assert.equal(may1(me, [me]), true, 'only itself')
  assert.equal(may1(me, [room('a', 97_000, 50)]), true, 'a filling one with more room left waits')
  assert.equal(may1(me, [room('c', 99_000, 5)]), false, 'a filling one with less room left goes first')
  assert.equal(may1(me, [room('c', 99_000, 0)]), true, 'unless it is full')
  assert.equal(may1(me, [room('c', 99_000, 5, NOW - 1001)]), true, 'or stopped asking')
  assert.equal(may1(me, [room('c', 99_000, 5, NOW - 1000)]), false, 'fresh up to freshMs')
  // Room above smaller than a pull's calls does not hold it back.
  assert.equal(may1(me, [room('c', 99_000, 5)], 6), true)
  assert.equal(may1(me, [room('c', 99_000, 5), room('d', 99_500, 3)], 6), false)
  // Exactly one of a set may place with a batch of 1: the top of the order.
  const rooms = [room('a', 10_000, 3), room('b', 20_000, 90), room('c', 30_000, 40), room('d', 99_000, 0), room('e', 99_500, 7, 0)]
  const may = (batch: number) => rooms.filter((r) => r.free > 0 && NOW - r.at <= 1000 && mayPlace(r, rooms, NOW, 1000, batch, RULES)).map((r) => r.instanceId)
  assert.deepEqual(may(1), ['b'], 'none filling (d is full, e stale): the most free')
  assert.deepEqual(may(91), ['b', 'c'])
  assert.deepEqual(may(131), ['a', 'b', 'c'])
})

test('dialer.next hands a campaign\'s calls to the instance filling now until it is full, and no gaps while it winds down, across app servers', async (t) => {
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

  // The first instance to ask is alone: it is served, and begins a cohort (3 s at this rate).
  assert.equal((await h.dialer.next('i-old', 20)).length, 20)
  await sleep(50) // the board update after a lease is not waited for
  // Filling and not full (a cohort under way, as when fewer calls were ready than its room): a new
  // instance with more room waits, on either server...
  await board.left('i-old', 30, Date.now(), 3000)
  assert.deepEqual(await other.next('i-new', 50), [])
  assert.deepEqual(await h.dialer.next('i-new', 50), [])
  // ...until the filling one is full.
  assert.equal((await other.next('i-old', 30)).length, 30)
  await sleep(50)
  assert.equal((await h.dialer.next('i-new', 50)).length, 50)
  await sleep(50)
  // Both filling: the one with the least room left goes first.
  await board.left('i-old', 10, Date.now(), 3000)
  await board.left('i-new', 30, Date.now(), 3000)
  assert.deepEqual(await other.next('i-new', 30), [])
  assert.equal((await other.next('i-old', 10)).length, 10)
  await sleep(50)
  // Full, i-old no longer holds i-new back.
  assert.equal((await other.next('i-new', 30)).length, 30)
  // This campaign winds down (600 contacts at 1,000 calls/s): once i-old's cohort is over, the
  // few channels its unanswered calls free (up to 15 of its 100) are not offered; more are.
  await instances.heartbeat(h.pool, { instanceId: 'i-old', activeCalls: 90, capacity: 100, manifestVersion: 0, agentVersion: 'test' })
  await sleep(3100)
  assert.deepEqual(await h.dialer.next('i-old', 10), [])
  assert.deepEqual(await other.next('i-old', 15), [])
  assert.equal((await h.dialer.next('i-old', 20)).length, 20)
  await sleep(3100)
  // Past that new cohort, an instance with more room goes first; one that stops asking (drained,
  // gone) stops counting after 600 ms.
  await board.report('i-newest', 100, Date.now(), 1, { cohortMs: 3000 })
  assert.deepEqual(await h.dialer.next('i-old', 20), [])
  await sleep(1100)
  assert.equal((await h.dialer.next('i-old', 20)).length, 20)
  await assertAccounting(h, c.id)
})

test('room above smaller than one pull\'s calls does not hold an instance back', async (t) => {
  // 1,000 cps x 300 ms: 300 calls per pull. An instance ranked above with 50 free cannot take them all.
  const h = await harness(t, { bufferSec: 2 })
  const redis = new Redis(REDIS_URL)
  t.after(() => { redis.disconnect() })
  const board = createPlacement({ redis, key: `${h.prefix}:room` })
  const c = await campaignWith(h, numbers(600), { rateCps: 1000, maxConcurrent: 1000 })
  await h.dialer.start(c.id)
  await h.dialer.tick()
  assert.equal((await h.dialer.next('i-old', 50)).length, 50)
  await sleep(50)
  await board.report('i-old', 50, Date.now(), 1, { cohortMs: 3000 })
  assert.equal((await h.dialer.next('i-new', 20)).length, 20)
  await sleep(50)
  // Ranked above it, more room than a pull brings: it waits.
  await board.report('i-old', 400, Date.now(), 1, { cohortMs: 3000 })
  assert.deepEqual(await h.dialer.next('i-idle', 20), [])
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

test('dialer.next hands nothing to an instance the controller is draining, before its heartbeat tells it', async (t) => {
  const h = await harness(t, { bufferSec: 2, placement: 'any' })
  const c = await campaignWith(h, numbers(100), { rateCps: 1000, maxConcurrent: 1000 })
  await h.dialer.start(c.id)
  await h.dialer.tick()
  await instances.heartbeat(h.pool, { instanceId: 'i-a', activeCalls: 0, capacity: 100, manifestVersion: 0, agentVersion: 'test' })
  assert.equal((await h.dialer.next('i-a', 5)).length, 5, 'ready: served')
  await instances.setState(h.pool, 'i-a', 'draining')
  assert.deepEqual(await h.dialer.next('i-a', 5), [], 'draining: nothing')
  await instances.setState(h.pool, 'i-a', 'ready')
  assert.equal((await h.dialer.next('i-a', 5)).length, 5, 'put back into service: served again')
  // One the tier has no row for yet (a hand-installed instance before its first heartbeat) is served.
  assert.equal((await h.dialer.next('i-unknown', 5)).length, 5)
})

test('a campaign winds down in its last two minutes of dialling; a cohort lasts twice the fill time, 3 s at least', () => {
  assert.equal(WIND_DOWN_SEC, 120)
  assert.equal(windingDown(6000, 50), true)
  assert.equal(windingDown(6001, 50), false)
  assert.equal(windingDown(0, 50), true)
  assert.equal(windingDown(0, 0), false, 'not dialling')
  assert.equal(cohortMs(100, 50), 4000)
  assert.equal(cohortMs(100, 500), 3000)
  assert.equal(cohortMs(100, 5), 40_000)
  assert.equal(cohortMs(0, 5), 3000)
})
