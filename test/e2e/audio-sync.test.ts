import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { suffix, waitFor } from '@federate/testkit'
import type { Agent } from '../../apps/agent/src/app.ts'
import { createSimulation } from '../../apps/sim/src/app.ts'
import { wav } from '../../packages/storage/test/fixtures.ts'
import { startS3rver } from '../../packages/storage/test/helpers.ts'
import { startTestServer } from '../helpers/server.ts'

// Audio sync end to end: a real app server with storage on (s3rver in-process) and a simulated
// fleet of 20 instances, each with its own real agent and its own sounds folder. A prompt
// uploaded through the REST API reaches every instance on the heartbeats' `sync` command; a
// replaced prompt costs exactly its bytes per instance; a deleted one disappears; and calls
// that play a synced prompt find it where the agent told the dialplan to look.
// The figures printed here are recorded in docs/benchmarks.md ("Audio sync").

const INSTANCES = 20
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

test('20 simulated instances converge on an uploaded, replaced and deleted prompt, downloading only what changed', async (t) => {
  const s3 = await startS3rver()
  t.after(() => s3.close())
  const server = await startTestServer(t, { FEDERATE_STORAGE: 'true', S3_ENDPOINT: s3.endpoint, S3_BUCKET: `fed-${suffix()}` })
  const api = async (method: string, path: string, body?: Buffer | object): Promise<any> => {
    const raw = Buffer.isBuffer(body)
    const res = await fetch(`${server.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${server.adminKey}`, ...(body === undefined ? {} : { 'content-type': raw ? 'audio/wav' : 'application/json' }) },
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
    })
    const text = await res.text()
    assert.ok(res.status < 300, `${method} ${path}: HTTP ${res.status} ${text}`)
    return text ? JSON.parse(text) : null
  }

  // The library before the fleet starts: its full manifest is what each instance gets on joining.
  const keep = wav({ ms: 1000, seed: 1 })
  const gone = wav({ ms: 500, seed: 2 })
  await api('PUT', '/prompts/poll/keep', keep)
  await api('PUT', '/prompts/poll/gone', gone)

  const ids = Array.from({ length: INSTANCES }, (_, i) => `av-${i + 1}`)
  const tokens: Record<string, string> = {}
  for (const id of ids) tokens[id] = await server.tokenFor(id)
  const workDir = await mkdtemp(join(tmpdir(), 'fed-e2e-audio-'))
  t.after(() => rm(workDir, { recursive: true, force: true }))
  const sim = createSimulation({
    instances: INSTANCES,
    capacity: 1,
    speed: 50,
    seed: 11,
    idPrefix: 'av-',
    workDir,
    servers: [server.rpcUrl],
    token: tokens,
    checkPrompts: true,
    profile: { hangup: { rate: 0 } },
    // Short heartbeats: instances learn of a new manifest version within ~200 ms.
    agentSettings: { heartbeatMs: 200, dialerIntervalMs: 2000, syncRetryMs: 200, logLevel: 'silent' },
    agentCloseGraceMs: 500,
  })
  t.after(() => sim.stop({ graceMs: 0 }))
  await sim.start()
  const agents = sim.agents as unknown as Agent[]
  // Where each instance's agent plays prompts from (FEDERATE_SOUNDS_DIR): <sounds root>/federate.
  const promptFile = (id: string, name: string): string => join(workDir, id, 'sounds', 'federate', `${name}.wav`)
  const holdAll = async (name: string, content: Buffer): Promise<boolean> => {
    for (const id of ids) {
      const data = await readFile(promptFile(id, name)).catch(() => undefined)
      if (data === undefined || sha(data) !== sha(content)) return false
    }
    return true
  }

  const joined = Date.now()
  await waitFor(() => agents.every((a) => a.audio?.ready), { timeoutMs: 10_000, what: 'every instance to finish its first full sync' })
  const joinMs = Date.now() - joined
  assert.ok(await holdAll('poll/keep', keep))
  for (const a of agents) assert.equal(a.audio!.stats.downloadedBytes, keep.length + gone.length)
  await waitFor(async () => {
    const { rows } = await server.deps.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM instances WHERE id LIKE 'av-%' AND state = 'ready'")
    return rows[0]!.n === INSTANCES
  }, { timeoutMs: 5000, what: 'the tier to see every instance ready' })

  // 1. A new prompt: every instance holds it, same hash, within 10 s.
  const intro = wav({ ms: 2000, seed: 3 })
  const before1 = agents.map((a) => a.audio!.stats.downloadedBytes)
  let t0 = Date.now()
  const { version: v1 } = await api('PUT', '/prompts/poll/intro', intro)
  await waitFor(async () => await holdAll('poll/intro', intro), { timeoutMs: 10_000, intervalMs: 20, what: 'all 20 instances to hold poll/intro' })
  const addMs = Date.now() - t0
  // The files are in place a moment before each pass ends and counts its bytes.
  await waitFor(() => agents.every((a) => a.audio!.version >= v1), { timeoutMs: 5000, what: 'every pass to complete' })
  const added = agents.map((a, i) => a.audio!.stats.downloadedBytes - before1[i]!)
  assert.deepEqual(added, ids.map(() => intro.length), 'each instance downloaded the new prompt once, nothing else')

  // 2. Replace it and delete another: the replaced bytes cross the network once per instance.
  const intro2 = wav({ ms: 3000, seed: 4 })
  const before2 = agents.map((a) => a.audio!.stats.downloadedBytes)
  t0 = Date.now()
  await api('PUT', '/prompts/poll/intro', intro2)
  await api('DELETE', '/prompts/poll/gone')
  const { rows: [head] } = await server.deps.pool.query<{ v: number }>('SELECT max(version)::int AS v FROM manifest_versions')
  await waitFor(async () => agents.every((a) => a.audio!.version === head!.v) && await holdAll('poll/intro', intro2),
    { timeoutMs: 10_000, intervalMs: 20, what: 'all 20 instances to take the replacement and the deletion' })
  const changeMs = Date.now() - t0
  const changed = agents.map((a, i) => a.audio!.stats.downloadedBytes - before2[i]!)
  assert.deepEqual(changed, ids.map(() => intro2.length), 'bytes downloaded per instance = bytes that changed')
  for (const id of ids) {
    await assert.rejects(readFile(promptFile(id, 'poll/gone')), { code: 'ENOENT' }, `${id} removed poll/gone`)
  }
  assert.ok(await holdAll('poll/keep', keep), 'untouched prompts stay')

  // 3. Calls play what was synced: the instance finds every prompt where the agent pointed it.
  await api('POST', '/flows', {
    id: 'hello',
    definition: {
      format: 'federate.flow/1',
      name: 'hello',
      start: 'hello',
      nodes: { hello: { type: 'play', prompts: ['poll/intro', 'poll/keep'], next: 'end' }, end: { type: 'hangup' } },
    },
    numbers: ['+15550100'],
  })
  for (const inst of sim.fleet.instances) assert.equal(inst.placeInbound({ number: '+15550100', callerId: '+15550199' }), true)
  await waitFor(() => sim.fleet.stats().ended.hangup === INSTANCES, { timeoutMs: 10_000, what: 'one call per instance to play and hang up' })
  const st = sim.fleet.stats()
  assert.equal(st.missingPrompts, 0, 'no prompt missing on any instance')
  assert.equal(st.actions.play, INSTANCES)
  assert.equal(st.sorry, 0)

  const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`
  console.log(`audio-sync e2e: ${INSTANCES} instances; first full sync (2 prompts, ${kb(keep.length + gone.length)}) on every instance in ${joinMs} ms; ` +
    `new prompt (${kb(intro.length)}) on all in ${addMs} ms; replace (${kb(intro2.length)}) + delete on all in ${changeMs} ms; ` +
    `bytes per instance for the change: ${changed[0]} (changed: ${intro2.length})`)
})
