import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { waitFor } from '@federate/testkit'
import { AgentError, createAgent, promptPath } from '../src/app.ts'
import type { TestServer } from '../../../test/helpers/server.ts'
import {
  deletePrompt, folders, sha, startS3rver, startStorageServer, storageAgentConfig, tempDir, uploadPrompt, wav,
} from './audio-helpers.ts'

// The agent's audio sync against a real app server with storage on (s3rver in-process).

let s3: Awaited<ReturnType<typeof startS3rver>>
before(async () => { s3 = await startS3rver() })
after(async () => { await s3.close() })

async function instanceRow (server: TestServer, id: string): Promise<{ state: string, manifest_version: number } | undefined> {
  const { rows } = await server.deps.pool.query<{ state: string, manifest_version: number }>('SELECT state, manifest_version FROM instances WHERE id = $1', [id])
  return rows[0]
}

test('an agent syncs the full manifest at start and reports ready only once the files are on disk', async (t) => {
  const server = await startStorageServer(t, s3.endpoint)
  const intro = wav({ ms: 200, seed: 1 })
  const menu = wav({ ms: 300, seed: 2 })
  await uploadPrompt(server, 'poll/intro', intro)
  const version = await uploadPrompt(server, 'menu/main', menu)
  const base = await tempDir(t)
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  // Downloads wait at the gate: a heartbeat meanwhile must say "not ready".
  const gated: typeof fetch = async (input, init) => { await gate; return await fetch(input, init) }
  // Heartbeats a minute apart: the first says "not ready"; the one that says ready is sent the
  // moment the sync completes, not a whole interval later (the controller waits for it).
  const config = storageAgentConfig(base, [server.rpcUrl], 'i-sync-1', await server.tokenFor('i-sync-1'), { heartbeatMs: 60_000 })
  const agent = createAgent(config, { fetch: gated })
  t.after(() => agent.close())
  await agent.start()

  await waitFor(async () => (await instanceRow(server, 'i-sync-1'))?.state === 'syncing', { timeoutMs: 5000, what: 'a heartbeat saying not ready' })
  assert.equal(agent.audio!.ready, false)
  assert.equal((await instanceRow(server, 'i-sync-1'))!.manifest_version, 0)
  release()
  await waitFor(async () => (await instanceRow(server, 'i-sync-1'))?.state === 'ready', { timeoutMs: 5000, what: 'the instance to be ready' })
  assert.equal((await instanceRow(server, 'i-sync-1'))!.manifest_version, version)
  assert.equal(agent.audio!.version, version)

  // Where the agent tells the dialplan to play a flow prompt is exactly where sync put it.
  assert.equal(sha(await readFile(`${promptPath('poll/intro', config.soundsDir)}.wav`)), sha(intro))
  assert.equal(sha(await readFile(join(folders(base).soundsRoot, 'federate/menu/main.wav'))), sha(menu))
  assert.equal(agent.audio!.stats.downloadedBytes, intro.length + menu.length)
})

test('a sync heartbeat brings only the delta: the replaced and added files are downloaded, the deleted one removed', async (t) => {
  const server = await startStorageServer(t, s3.endpoint)
  await uploadPrompt(server, 'poll/intro', wav({ ms: 200, seed: 1 }))
  await uploadPrompt(server, 'poll/bye', wav({ ms: 250, seed: 3 }))
  await uploadPrompt(server, 'menu/main', wav({ ms: 300, seed: 2 }))
  const base = await tempDir(t)
  const got: string[] = []
  const counting: typeof fetch = async (input, init) => {
    got.push(new URL(String(input)).pathname)
    return await fetch(input, init)
  }
  const config = storageAgentConfig(base, [server.rpcUrl], 'i-sync-2', await server.tokenFor('i-sync-2'))
  const agent = createAgent(config, { fetch: counting })
  t.after(() => agent.close())
  await agent.start()
  await waitFor(() => agent.audio!.ready, { timeoutMs: 5000, what: 'the first full sync' })
  const before = agent.audio!.stats
  assert.equal(got.length, 3)

  const intro2 = wav({ ms: 400, seed: 7 })
  const extra = wav({ ms: 120, seed: 8 })
  await uploadPrompt(server, 'poll/intro', intro2)
  await uploadPrompt(server, 'new/extra', extra)
  await deletePrompt(server, 'menu/main')
  const { rows: [head] } = await server.deps.pool.query<{ v: number }>('SELECT max(version)::int AS v FROM manifest_versions')
  await waitFor(() => agent.audio!.version === head!.v, { timeoutMs: 5000, what: 'the agent to reach the new version' })

  const { soundsRoot } = folders(base)
  assert.equal(sha(await readFile(join(soundsRoot, 'federate/poll/intro.wav'))), sha(intro2))
  assert.equal(sha(await readFile(join(soundsRoot, 'federate/new/extra.wav'))), sha(extra))
  assert.equal(existsSync(join(soundsRoot, 'federate/menu/main.wav')), false)
  assert.equal(existsSync(join(soundsRoot, 'federate/menu')), false, 'the emptied folder is gone too')
  assert.equal(agent.audio!.stats.downloadedBytes - before.downloadedBytes, intro2.length + extra.length, 'bytes downloaded = bytes that changed')
  assert.equal(got.length, 5, 'two downloads after the first sync')
  const now = agent.audio!.stats
  assert.ok(now.passes > before.passes)
  assert.equal(now.fullPasses, 1, 'only the first pass asked for the full manifest')
  assert.ok(existsSync(join(soundsRoot, 'federate/poll/bye.wav')), 'the untouched prompt stays')
  await waitFor(async () => (await instanceRow(server, 'i-sync-2'))?.manifest_version === head!.v, { timeoutMs: 5000, what: 'the heartbeat to report it' })
})

test('a download whose hash does not match is not installed; the instance stays not ready until a good copy arrives', async (t) => {
  const server = await startStorageServer(t, s3.endpoint)
  const intro = wav({ ms: 200, seed: 4 })
  await uploadPrompt(server, 'poll/intro', intro)
  const base = await tempDir(t)
  let corrupt = true
  const lying: typeof fetch = async (input, init) => {
    const res = await fetch(input, init)
    if (!corrupt) return res
    const body = Buffer.from(await res.arrayBuffer())
    body[body.length - 1] ^= 0xff // same size, other content
    return new Response(body, { status: res.status, headers: res.headers })
  }
  const agent = createAgent(storageAgentConfig(base, [server.rpcUrl], 'i-sync-3', await server.tokenFor('i-sync-3')), { fetch: lying })
  t.after(() => agent.close())
  await agent.start()
  await waitFor(() => agent.audio!.stats.failedPasses >= 2, { timeoutMs: 5000, what: 'failed passes, retried' })
  const promptsDir = join(folders(base).soundsRoot, 'federate')
  assert.equal(existsSync(join(promptsDir, 'poll/intro.wav')), false, 'nothing installed under the final name')
  assert.deepEqual((await readdir(join(promptsDir, 'poll')).catch(() => [])).filter((n) => n.endsWith('.part')), [], 'no bad temp file kept')
  assert.equal(agent.audio!.ready, false)
  assert.match(agent.audio!.stats.lastError ?? '', /FED_STORAGE_HASH_MISMATCH/)
  await waitFor(async () => (await instanceRow(server, 'i-sync-3'))?.state === 'syncing', { timeoutMs: 5000, what: 'a not-ready heartbeat' })

  corrupt = false
  await waitFor(() => agent.audio!.ready, { timeoutMs: 5000, what: 'the retry to succeed' })
  assert.equal(sha(await readFile(join(promptsDir, 'poll/intro.wav'))), sha(intro))
})

test('FEDERATE_SOUNDS_DIR must end in /federate while audio sync is on', async (t) => {
  const base = await tempDir(t)
  const bad = storageAgentConfig(base, ['http://127.0.0.1:9/RPC2'], 'i-x', 'tok', { soundsDir: join(base, 'sounds') })
  assert.throws(() => createAgent(bad), (err: unknown) => err instanceof AgentError && err.code === 'FED_AGENT_CONFIG' && /FEDERATE_SOUNDS_DIR/.test(err.message))
  assert.throws(() => createAgent(storageAgentConfig(base, ['http://127.0.0.1:9/RPC2'], 'i-x', 'tok', { soundsDir: join(base, 'federate-sounds') })), /FEDERATE_SOUNDS_DIR/)
  const off = createAgent(storageAgentConfig(base, ['http://127.0.0.1:9/RPC2'], 'i-x', 'tok', { soundsDir: join(base, 'sounds'), audioSync: false }))
  assert.equal(off.audio, null)
  await off.close()
  const good = createAgent(storageAgentConfig(base, ['http://127.0.0.1:9/RPC2'], 'i-x', 'tok'))
  assert.ok(good.audio)
  await good.close()
})
