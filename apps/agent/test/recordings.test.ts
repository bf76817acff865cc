import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test, type TestContext } from 'node:test'
import { waitFor } from '@federate/testkit'
import { createAgent, nodeFromFile } from '../src/app.ts'
import type { TestServer } from '../../../test/helpers/server.ts'
import { folders, sha, startRelay, startS3rver, startStorageServer, storageAgentConfig, tempDir, wav } from './audio-helpers.ts'
import { agiCall } from './helpers.ts'

// Recording uploads against a real app server with storage on (s3rver in-process): signed PUT
// straight to S3, the pending list on disk, retries, and close() waiting for them.

// One S3 and one server for the file: every test has its own instance and call ids.
let s3: Awaited<ReturnType<typeof startS3rver>>
let server: TestServer
const closers: Array<() => Promise<void>> = []
before(async () => {
  s3 = await startS3rver()
  server = await startStorageServer({ after: (fn: () => Promise<void>) => { closers.push(fn) } } as unknown as TestContext, s3.endpoint)
})
after(async () => {
  for (const close of closers.reverse()) await close()
  await s3.close()
})

interface Listed { key: string, callId: string, instanceId: string | null, node: string | null, size: number | null }

async function listed (callId: string): Promise<Listed[]> {
  const res = await fetch(`${server.url}/api/v1/recordings?callId=${encodeURIComponent(callId)}`, { headers: { authorization: `Bearer ${server.adminKey}` } })
  assert.equal(res.status, 200)
  return await res.json() as Listed[]
}

/** The recording's bytes as stored, through the operators' download route. */
async function stored (key: string): Promise<Buffer> {
  const res = await fetch(`${server.url}/api/v1/recordings/download?key=${encodeURIComponent(key)}`, {
    headers: { authorization: `Bearer ${server.adminKey}`, accept: 'application/json' },
  })
  assert.equal(res.status, 200)
  const { url } = await res.json() as { url: string }
  const obj = await fetch(url)
  assert.equal(obj.status, 200)
  return Buffer.from(await obj.arrayBuffer())
}

async function recording (base: string, file: string, seed: number): Promise<Buffer> {
  const dir = folders(base).recordingsDir
  await mkdir(dir, { recursive: true })
  const audio = wav({ ms: 500, seed })
  await writeFile(join(dir, file), audio)
  return audio
}

test('a recorded step uploads the file with a signed PUT; the server lists it and the local copy goes', async (t) => {
  const base = await tempDir(t)
  const config = storageAgentConfig(base, [server.rpcUrl], 'i-rec-1', await server.tokenFor('i-rec-1'))
  const agent = createAgent(config)
  t.after(() => agent.close())
  await agent.start()
  const callId = 'call-rec-1'
  const file = `msg-${callId}-voicemail-4`
  const audio = await recording(base, `${file}.wav`, 1)
  // What the dialplan sends after Record(): RECORDED_FILE (no extension), seconds, RECORD_STATUS.
  await agiCall({ port: agent.agiPort, args: ['recorded', callId, join(config.recordingsDir, file), '3', 'SILENCE'] })

  await waitFor(async () => (await listed(callId)).some((r) => r.size === audio.length) && agent.recordings!.count === 0,
    { timeoutMs: 5000, what: 'the recording to be uploaded and listed' })
  const [row] = await listed(callId)
  assert.equal(row!.instanceId, 'i-rec-1')
  assert.equal(row!.node, 'voicemail')
  assert.match(row!.key, new RegExp(`^recordings/\\d{4}/\\d{2}/\\d{2}/${callId}/${file}\\.wav$`))
  assert.equal(sha(await stored(row!.key)), sha(audio))
  assert.equal(existsSync(join(config.recordingsDir, `${file}.wav`)), false, 'deleted after the upload')
  assert.deepEqual(await readdir(join(config.spoolDir, 'uploads')), [], 'no pending entry left')
})

test('a recording that cannot be uploaded (server down) stays pending on disk, survives a restart and is uploaded later', async (t) => {
  const relay = await startRelay(t, new URL(server.rpcUrl))
  await relay.down()
  const base = await tempDir(t)
  const token = await server.tokenFor('i-rec-2')
  const config = storageAgentConfig(base, [relay.url], 'i-rec-2', token, { uploadCloseWaitMs: 200, keepRecordings: true })
  const first = createAgent(config)
  await first.start()
  const callId = 'call-rec-2'
  const audio = await recording(base, 'answer-1.wav', 2)
  await first.recordings!.add(callId, 'answer-1.wav')
  assert.equal(first.recordings!.count, 1)
  await waitFor(() => first.tier.status()[0]!.state === 'open', { timeoutMs: 5000, what: 'attempts against the dead server' })
  const started = Date.now()
  await first.close()
  assert.ok(Date.now() - started < 2000, 'close() waits a bounded time')
  assert.deepEqual(await readdir(join(config.spoolDir, 'uploads')), [`${callId}~answer-1.wav.json`], 'the pending entry is on disk')
  assert.equal((await listed(callId)).length, 0)

  await relay.up()
  const second = createAgent(config)
  t.after(() => second.close())
  await second.start()
  assert.equal(second.recordings!.count, 1, 'the restarted agent knows the pending upload')
  await waitFor(() => second.recordings!.count === 0, { timeoutMs: 5000, what: 'the retried upload' })
  const [row] = await listed(callId)
  assert.equal(sha(await stored(row!.key)), sha(audio))
  assert.ok(existsSync(join(config.recordingsDir, 'answer-1.wav')), 'kept: FEDERATE_KEEP_RECORDINGS')
})

test('heartbeats report the pending uploads while the PUT to storage fails, and 0 once it went through', async (t) => {
  const base = await tempDir(t)
  let failing = true
  const flaky: typeof fetch = async (input, init) => {
    if (failing && init?.method === 'PUT') throw new TypeError('fetch failed: S3 unreachable')
    return await fetch(input, init)
  }
  const config = storageAgentConfig(base, [server.rpcUrl], 'i-rec-6', await server.tokenFor('i-rec-6'), { audioSync: false })
  const agent = createAgent(config, { fetch: flaky })
  t.after(() => agent.close())
  await agent.start()
  await recording(base, 'p.wav', 8)
  await agent.recordings!.add('call-rec-6', 'p.wav')
  const reported = async (): Promise<number | undefined> =>
    (await server.deps.pool.query<{ pending_uploads: number }>('SELECT pending_uploads FROM instances WHERE id = $1', ['i-rec-6'])).rows[0]?.pending_uploads
  await waitFor(async () => await reported() === 1, { timeoutMs: 5000, what: 'a heartbeat with pendingUploads 1' })
  assert.equal(existsSync(join(config.recordingsDir, 'p.wav')), true)
  failing = false
  await waitFor(async () => await reported() === 0, { timeoutMs: 5000, what: 'a heartbeat with pendingUploads 0' })
  assert.equal((await listed('call-rec-6')).length, 1)
})

test('close() waits for pending uploads to finish when the server comes back within the wait', async (t) => {
  const relay = await startRelay(t, new URL(server.rpcUrl))
  await relay.down()
  const base = await tempDir(t)
  const config = storageAgentConfig(base, [relay.url], 'i-rec-3', await server.tokenFor('i-rec-3'), { uploadCloseWaitMs: 5000 })
  const agent = createAgent(config)
  await agent.start()
  await recording(base, 'a.wav', 3)
  await recording(base, 'b.gsm', 4)
  await agent.recordings!.add('call-rec-3', 'a.wav')
  await agent.recordings!.add('call-rec-3', 'b.gsm')
  assert.equal(agent.recordings!.count, 2)
  let closed = false
  const closing = agent.close().then(() => { closed = true })
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.equal(closed, false, 'close() is still waiting for the uploads')
  await relay.up()
  await closing
  assert.equal(agent.recordings!.count, 0)
  assert.deepEqual((await listed('call-rec-3')).map((r) => r.key.split('/').at(-1)).sort(), ['a.wav', 'b.gsm'])
  assert.deepEqual(await readdir(config.recordingsDir), [])
})

test('a refused upload is set aside with its file kept; unusable names and unknown files queue nothing', async (t) => {
  const base = await tempDir(t)
  // A token of another instance: every recording.upload is FORBIDDEN, a final fault.
  const config = storageAgentConfig(base, [server.rpcUrl], 'i-rec-4', await server.tokenFor('i-other'), { audioSync: false })
  const agent = createAgent(config)
  t.after(() => agent.close())
  await agent.start()
  await recording(base, 'x.wav', 5)
  await agent.recordings!.add('call-rec-4', 'x.wav')
  await waitFor(() => agent.recordings!.count === 0, { timeoutMs: 5000, what: 'the refusal' })
  assert.deepEqual(await readdir(join(config.spoolDir, 'uploads')), ['rejected-call-rec-4~x.wav.json'])
  assert.ok(existsSync(join(config.recordingsDir, 'x.wav')), 'the recording is kept')

  await assert.rejects(agent.recordings!.add('call-rec-4', '../etc/passwd'), /unusable name/)
  await assert.rejects(agent.recordings!.add('bad id!', 'x.wav'), /unusable name/)
  agent.recordings!.recorded('call-rec-4', 'not-there')
  agent.recordings!.recorded('call-rec-4', '../x')
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal(agent.recordings!.count, 0)
})

test('the flow node is read back from the engine\'s recording file names only when whole', () => {
  assert.equal(nodeFromFile('rec-c1-leave_msg-7.wav', 'c1'), 'leave_msg')
  assert.equal(nodeFromFile('rec-a_b-n-1-2.wav', 'a:b'), 'n-1', 'call ids with : are written with _')
  assert.equal(nodeFromFile('rec-c1-abcdefghijklmnopqrstuvwx-3.wav', 'c1'), undefined, '24 characters may be truncated')
  assert.equal(nodeFromFile('answer-1.wav', 'c1'), undefined)
  assert.equal(nodeFromFile('rec-c1-node-x.wav', 'c1'), undefined)
})

test('a call that hangs up during Record() still has its recording uploaded at call end', async (t) => {
  const base = await tempDir(t)
  const config = storageAgentConfig(base, [server.rpcUrl], 'i-rec-5', await server.tokenFor('i-rec-5'), { audioSync: false })
  const agent = createAgent(config)
  t.after(() => agent.close())
  await agent.start()
  const callId = 'call-rec-5'
  const audio = await recording(base, `rec-${callId}-msg-3.wav`, 6)
  await recording(base, 'rec-other-call-msg-3.wav', 7)
  // The hangup handler's /end: no `recorded` step came for this call.
  await agiCall({ port: agent.agiPort, script: 'end', args: [callId, '16', '10', '8', '10'] })
  await waitFor(async () => (await listed(callId)).length === 1 && agent.recordings!.count === 0, { timeoutMs: 5000, what: 'the swept upload' })
  const [row] = await listed(callId)
  assert.equal(row!.node, 'msg')
  assert.equal(sha(await stored(row!.key)), sha(audio))
  assert.deepEqual(await readFile(join(config.recordingsDir, 'rec-other-call-msg-3.wav')).then(() => 'kept'), 'kept', 'another call\'s recording is not touched')
})
