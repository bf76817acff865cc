import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, waitFor } from '@federate/testkit'
import { assertAccounting, campaignWith, harness, numbers } from './helpers.ts'

test('a 50 cps campaign hands out 50 calls per second through the BullMQ limiter', async (t) => {
  const h = await harness(t, { bufferSec: 2 })
  const c = await campaignWith(h, numbers(400), { rateCps: 50, maxConcurrent: 10_000 })
  await h.dialer.start(c.id)
  // Each poll's [before, after] brackets the moment its jobs left Redis.
  const polls: Array<{ before: number, after: number, n: number }> = []
  const t0 = Date.now()
  let lastTick = 0
  // Instances poll every ~10 ms with room for 100 calls; the dispatcher ticks every 100 ms.
  while (Date.now() - t0 < 2600) {
    if (Date.now() - lastTick > 100) { await h.dialer.tick(); lastTick = Date.now() }
    const before = Date.now()
    const jobs = await h.dialer.next('i-1', 100)
    if (jobs.length) polls.push({ before, after: Date.now(), n: jobs.length })
    await sleep(10)
  }
  t.diagnostic(`windows ${JSON.stringify(polls.map((p) => p.n))} starting at ${JSON.stringify(polls.map((p) => p.before - t0))} ms`)
  // Polls within one limiter window belong together (a window may drain the queue before the
  // dispatcher's next tick tops it up, and then pays out in two polls).
  const windows: Array<{ before: number, after: number, n: number }> = []
  for (const p of polls) {
    const w = windows.at(-1)
    if (w && p.before - w.before < 1000) w.n += p.n
    else windows.push({ ...p })
  }
  assert.ok(windows.length >= 2, `${windows.length} windows in 2.6 s`)
  // The limiter releases 50 per one-second window, never more; every window but the last is full.
  assert.ok(windows.every((w) => w.n <= 50), 'no window releases more than 50 calls')
  assert.ok(windows.slice(0, -1).every((w) => w.n === 50), 'each full window releases exactly 50 calls')
  for (let i = 1; i < windows.length; i++) {
    assert.ok(windows[i]!.after - windows[i - 1]!.before >= 1000, 'no window opens early')
    // A window restarts at the first poll after it expires; a loaded machine polls late.
    assert.ok(windows[i]!.before - windows[i - 1]!.before <= 2600, 'the next window follows promptly')
  }
  const queued = (await h.dialer.stats(c.id)).contacts.queued
  assert.ok(queued <= 100 + 5, `only a small buffer is queued (${queued})`)
  await assertAccounting(h, c.id)
})

// A TCP proxy in front of Redis that can be cut and restored: a Redis outage without stopping Redis.
async function redisProxy (t: { after: (fn: () => Promise<void>) => void }) {
  const port = await freePort()
  const sockets = new Set<Socket>()
  let server = createServer()
  const listen = async () => {
    server = createServer((down) => {
      const up = connect(6379, '127.0.0.1')
      for (const s of [down, up]) { sockets.add(s); s.on('error', () => {}); s.on('close', () => sockets.delete(s)) }
      down.pipe(up).pipe(down)
    })
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  }
  const cut = async () => {
    await new Promise<void>((resolve) => { server.close(() => resolve()); for (const s of sockets) s.destroy() })
  }
  await listen()
  t.after(async () => { await cut().catch(() => {}) })
  return { url: `redis://127.0.0.1:${port}`, cut, restore: listen }
}

test('during a Redis outage dispatch and next() neither crash nor hang, and recover after', async (t) => {
  const proxy = await redisProxy(t)
  const h = await harness(t, { redisUrl: proxy.url, redisTimeoutMs: 300 })
  const c = await campaignWith(h, numbers(20), { rateCps: 1000 })
  await h.dialer.start(c.id)
  await h.dialer.tick()
  assert.equal((await h.dialer.next('i-1', 5)).length, 5)

  await proxy.cut()
  const t0 = Date.now()
  const during = await h.dialer.next('i-1', 5)
  assert.deepEqual(during, [])
  const tick = await h.dialer.tick()
  assert.equal(tick.queued, 0, 'nothing is counted as queued while Redis refuses')
  assert.ok(Date.now() - t0 < 3000, 'answers come back within the Redis timeout')
  // Contacts picked during the outage went back to pending (none stuck in queued without a job).
  await sleep(1500) // BullMQ reports errors during the outage: they must not crash the process.

  await proxy.restore()
  const jobs = await waitFor(async () => {
    await h.dialer.tick()
    const got = await h.dialer.next('i-1', 100)
    return got.length > 0 ? got : null
  }, { timeoutMs: 15_000, what: 'jobs after Redis came back' })
  assert.ok(jobs.length > 0)
  // Everything is eventually handed out exactly once.
  const seen = new Set(jobs.map((j) => j.to))
  await waitFor(async () => {
    await h.dialer.tick()
    for (const j of await h.dialer.next('i-1', 100)) {
      assert.ok(!seen.has(j.to), `${j.to} handed out twice`)
      seen.add(j.to)
    }
    return seen.size === 15
  }, { timeoutMs: 15_000, what: 'the remaining contacts' })
  await assertAccounting(h, c.id)
})
