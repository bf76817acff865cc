import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import pino from 'pino'
import { FaultError } from '@federate/protocol'
import { waitFor } from '@federate/testkit'
import { CallEndSpool, createAgent } from '../src/app.ts'
import { agiCall, refusedUrl, startTier, tempDir, testConfig } from './helpers.ts'

test('a call.end the tier cannot make durable is spooled on disk and resent until acknowledged', async (t) => {
  let durable = false
  const tier = await startTier({ end: () => { if (!durable) throw new FaultError('NOT_DURABLE', 'postgres is down'); return { ok: true } } })
  t.after(() => tier.close())
  const spoolDir = await tempDir(t)
  const agent = createAgent(testConfig({ servers: [tier.url], spoolDir, spoolRetryMs: 30 }))
  t.after(() => agent.close())
  await agent.start()
  await agiCall({ port: agent.agiPort, script: 'end', args: ['call-a', '16', '12', '10', '13'], vars: new Map([['FED_STATE', 'st']]) })
  const files = await waitFor(async () => { const f = (await readdir(spoolDir)).filter((n) => n.startsWith('end-')); return f.length === 1 ? f : null }, { what: 'a spool file' })
  assert.equal(files[0], 'end-call-a.json')
  assert.deepEqual(JSON.parse(await readFile(join(spoolDir, files[0]!), 'utf8')), { callId: 'call-a', instanceId: 'i-test', cause: '16', durationSec: 12, billSec: 10, state: 'st' })
  // Still failing: resent, still kept.
  await waitFor(() => tier.calls.filter((c) => c.method === 'call.end').length >= 3, { what: 'resends' })
  assert.deepEqual(await readdir(spoolDir), ['end-call-a.json'])
  durable = true
  await waitFor(async () => (await readdir(spoolDir)).length === 0, { what: 'the spool to drain' })
  const ends = tier.calls.filter((c) => c.method === 'call.end')
  assert.deepEqual(ends.at(-1)!.params, ends[0]!.params, 'the resend is the same record')
  assert.equal(agent.spool.size, 0)
})

test('with no app server at all the record waits in the spool and a restarted agent sends it', async (t) => {
  const spoolDir = await tempDir(t)
  const dead = await refusedUrl()
  const first = createAgent(testConfig({ servers: [dead], spoolDir, spoolRetryMs: 20 }))
  await first.start()
  await agiCall({ port: first.agiPort, script: 'end', args: ['call-b', '17', '', '', '5'] })
  await waitFor(async () => (await readdir(spoolDir)).includes('end-call-b.json'), { what: 'spooled' })
  await first.close()
  assert.deepEqual(await readdir(spoolDir), ['end-call-b.json'], 'closing keeps what was not acknowledged')

  const tier = await startTier({}, Number(new URL(dead).port))
  t.after(() => tier.close())
  const second = createAgent(testConfig({ servers: [tier.url], spoolDir, spoolRetryMs: 20 }))
  t.after(() => second.close())
  await second.start()
  await waitFor(async () => (await readdir(spoolDir)).length === 0, { what: 'resent after restart' })
  assert.equal(tier.calls.find((c) => c.method === 'call.end')!.params.callId, 'call-b')
})

test('the spool keeps one record per call id and moves aside what the tier refuses for good', async (t) => {
  const dir = await tempDir(t)
  const sent: string[] = []
  const spool = new CallEndSpool({
    dir,
    retryMs: 1000,
    logger: pino({ level: 'silent' }),
    send: async (r) => { sent.push(r.callId); return r.callId === 'bad' ? 'rejected' : 'ok' },
  })
  t.after(() => spool.close())
  const rec = (callId: string, cause = '16') => ({ callId, instanceId: 'i', cause, durationSec: 1, billSec: 1 })
  await spool.put(rec('x.y:1'))
  await spool.put(rec('x.y:1', '17'))
  await spool.put(rec('..'))
  await spool.put(rec('bad'))
  assert.deepEqual((await spool.pending()).sort(), ['..', 'bad', 'x.y:1'])
  assert.equal(JSON.parse(await readFile(join(dir, `end-${encodeURIComponent('x.y:1')}.json`), 'utf8')).cause, '17', 'the newer record replaced the older')
  // A torn temporary file from a crash is not a record.
  await writeFile(join(dir, '.tmp-abc'), '{"callId":')
  assert.deepEqual(await spool.flush(), { sent: 2, left: 0 })
  assert.deepEqual(sent.sort(), ['..', 'bad', 'x.y:1'])
  assert.deepEqual((await readdir(dir)).filter((f) => !f.startsWith('.tmp')), ['rejected-end-bad.json'])
})

test('a resend pass stops at the first record the tier cannot take', async (t) => {
  const dir = await tempDir(t)
  let calls = 0
  const spool = new CallEndSpool({ dir, retryMs: 1000, logger: pino({ level: 'silent' }), send: async () => { calls++; return 'retry' } })
  t.after(() => spool.close())
  for (const id of ['a', 'b', 'c']) await spool.put({ callId: id, instanceId: 'i', cause: '16', durationSec: 0, billSec: 0 })
  assert.deepEqual(await spool.flush(), { sent: 0, left: 3 })
  assert.equal(calls, 1)
})
