import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { test } from 'node:test'
import pg from 'pg'
import { databaseUrl } from '@federate/testkit'
import { startSystem } from './system.ts'

// The whole-system harness itself: real servers and a real simulated fleet run a small campaign
// to the end, a server survives a SIGKILL and a restart, and close() leaves nothing behind.

test('the system harness runs a small campaign end to end and cleans up after itself', async (t) => {
  const sys = await startSystem({
    name: 'harness-test',
    servers: 2,
    instances: 2,
    capacity: 5,
    speed: 4,
    seed: 3,
    // Short calls: every callee answers quickly and votes.
    profile: { outcomes: { answer: 1, busy: 0, noanswer: 0, congestion: 0, unavailable: 0 }, ring: { medianSec: 1, sigma: 0.1, maxSec: 2 }, machineRate: 0, amd: { accuracy: 1, notSureRate: 0 }, hangup: { rate: 0 }, gather: { noInputRate: 0, byPrompt: { 'poll/question': { 1: 1, 2: 1 } } } },
  })
  t.after(sys.close)
  assert.equal(sys.servers.length, 2)
  assert.equal(sys.fleet!.instanceIds.length, 2)
  assert.ok(existsSync(sys.servers[0]!.stderrFile), 'server stderr goes to a file under the run folder')

  await sys.publishFlow('examples/flows/poll.json', [], 'poll')
  const c = await sys.createCampaign({ name: 'harness', flowId: 'poll', callerId: '+15550001111', rateCps: 10, maxConcurrent: 10, window: { start: '00:00', end: '24:00' } })
  const csv = ['phone', ...Array.from({ length: 8 }, (_, i) => `+1415555${String(1000 + i)}`)].join('\n')
  const imported = await sys.importContacts(c.id, csv)
  assert.equal(imported.imported, 8)
  await sys.campaignAction(c.id, 'start')

  // Bad input next to the good: an unknown campaign is a 404 the harness reports, not a hang.
  await assert.rejects(sys.campaignStats('no-such-campaign'), /404/)

  const deadline = Date.now() + 60_000
  let stats: Record<string, any> = {}
  while (Date.now() < deadline) {
    stats = await sys.campaignStats(c.id)
    if (stats.dialled === 8 && stats.open === 0) break
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  assert.equal(stats.dialled, 8, JSON.stringify(stats))
  assert.equal(stats.outcomes.answered, 8, JSON.stringify(stats))
  const o = stats.outcomes as Record<string, number>
  assert.equal(o.answered! + o.busy! + o.noanswer! + o.failed! + o.machine! + o.lost!, stats.dialled)
  const fs = await sys.fleet!.nextStats()
  assert.equal(fs.started.outbound, 8)
  assert.equal(fs.sorry, 0)
  assert.equal(fs.agiErrors, 0)

  // A server killed hard comes back on the same address.
  const s = sys.servers[1]!
  const before = s.pid
  assert.equal(await s.kill('SIGKILL'), 'SIGKILL')
  assert.equal(s.alive, false)
  await s.restart()
  assert.notEqual(s.pid, before)
  assert.equal((await fetch(`${s.url}/healthz`)).status, 200)
  assert.ok(sys.cpu()['server-1']! > 0, 'CPU of each child is readable from /proc')

  const summary = await sys.fleet!.stop()
  assert.equal(summary?.started.outbound, 8)
  const name = new URL(sys.databaseUrl).pathname.slice(1)
  await sys.close()
  await sys.close() // idempotent
  assert.equal(s.alive, false)
  const admin = new pg.Client({ connectionString: databaseUrl('postgres') })
  await admin.connect()
  try {
    const r = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
    assert.equal(r.rowCount, 0, 'the database was dropped')
  } finally {
    await admin.end()
  }
})
