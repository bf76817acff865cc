import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import pino from 'pino'
import { loadConfig } from '@federate/config'
import { createApiKey } from '@federate/db'
import { createServerDeps, serverSettings } from '../src/app.ts'
import { createStorageService } from '../src/storage-service.ts'
import { promptsOf, validateFlow } from '@federate/flows'
import { soxAvailable } from '@federate/storage'
import { freePort } from '@federate/testkit'
import { createXmlRpcClient, XmlRpcFaultError } from '@federate/xmlrpc'
import { gsm, request, startS3rver, startStorageServer, ulaw, wav } from './audio-helpers.ts'

const ivr = JSON.parse(await readFile(new URL('../../../examples/flows/ivr.json', import.meta.url), 'utf8'))
const MAX = 64 * 1024

// One S3 server for the file; each test has its own bucket and database.
const s3 = await startS3rver()
after(() => s3.close())

async function keys (s: { deps: { pool: any } }) {
  return {
    viewer: (await createApiKey(s.deps.pool, 'viewer', 'v')).key,
    operator: (await createApiKey(s.deps.pool, 'operator', 'o')).key,
  }
}

const put = (name: string, body: Buffer | string, key: string, type = 'audio/wav', query = '') =>
  ({ method: 'PUT', path: `/api/v1/prompts/${name}${query}`, options: { key, body, headers: { 'content-type': type } } })

test('operators upload, list, fetch and delete prompts over REST; viewers only read', async (t) => {
  const s = await startStorageServer(t, s3.endpoint, { STORAGE_MAX_PROMPT_BYTES: String(MAX) })
  const { viewer, operator } = await keys(s)
  const call = async (r: ReturnType<typeof put>) => await request(s.url, r.method, r.path, r.options)
  const intro = wav({ ms: 500 })

  assert.equal((await call(put('poll/intro', intro, ''))).status, 401)
  const denied = await call(put('poll/intro', intro, viewer))
  assert.equal(denied.status, 403)
  assert.equal(denied.body.code, 'FED_AUTH_FORBIDDEN')

  const created = await call(put('poll/intro', intro, operator))
  assert.equal(created.status, 201, JSON.stringify(created.body))
  assert.equal(created.body.changed, true)
  assert.equal(created.body.prompt.name, 'poll/intro')
  assert.equal(created.body.prompt.format, 'wav')
  assert.equal(created.body.prompt.path, 'federate/poll/intro.wav')
  assert.equal(created.body.prompt.durationMs, 500)
  assert.equal(created.body.description, 'WAV PCM 8000 Hz mono 16-bit')
  const again = await call(put('poll/intro', intro, operator, 'application/octet-stream'))
  assert.equal(again.status, 200, 'the same content again changes nothing')
  assert.equal(again.body.changed, false)
  assert.equal(again.body.version, created.body.version)

  // Headerless formats take their extension from the name, ?filename= or X-Filename.
  assert.equal((await call(put('ivr/welcome.gsm', gsm(), operator, 'audio/x-gsm'))).body.prompt.format, 'gsm')
  assert.equal((await call(put('ivr/menu', ulaw(), operator, 'audio/basic', '?filename=menu.ulaw'))).body.prompt.format, 'ulaw')
  const viaHeader = await request(s.url, 'PUT', '/api/v1/prompts/ivr/bye', { key: operator, body: wav({ rate: 16000 }), headers: { 'content-type': 'audio/wav', 'x-filename': 'bye.wav' } })
  assert.equal(viaHeader.body.prompt.format, 'wav16')

  if (soxAvailable()) {
    // ?convert=true: refused audio goes through sox to 8 kHz mono WAV first.
    const converted = await call(put('music/hold', wav({ rate: 44100, channels: 2, ms: 200 }), operator, 'audio/wav', '?convert=true'))
    assert.equal(converted.status, 201, JSON.stringify(converted.body))
    assert.equal(converted.body.description, 'WAV PCM 8000 Hz mono 16-bit')
    assert.equal((await request(s.url, 'DELETE', '/api/v1/prompts/music/hold', { key: operator })).status, 204)
  }

  const list = await request(s.url, 'GET', '/api/v1/prompts', { key: viewer })
  assert.deepEqual(list.body.map((p: { name: string }) => p.name), ['ivr/bye', 'ivr/menu', 'ivr/welcome', 'poll/intro'])
  const poll = await request(s.url, 'GET', '/api/v1/prompts?prefix=poll/', { key: viewer })
  assert.deepEqual(poll.body.map((p: { name: string }) => p.name), ['poll/intro'])

  const one = await request(s.url, 'GET', '/api/v1/prompts/poll/intro', { key: viewer })
  assert.equal(one.status, 200)
  assert.equal(one.body.prompt.sha256, created.body.prompt.sha256)
  const download = await fetch(one.body.url)
  assert.equal(download.status, 200)
  assert.ok(Buffer.from(await download.arrayBuffer()).equals(intro), 'the signed URL serves the uploaded bytes')

  const manifest = await request(s.url, 'GET', '/api/v1/manifest', { key: viewer })
  assert.equal(manifest.body.full, true)
  assert.deepEqual(manifest.body.files.map((f: { path: string }) => f.path),
    ['federate/ivr/bye.wav16', 'federate/ivr/menu.ulaw', 'federate/ivr/welcome.gsm', 'federate/poll/intro.wav'])

  assert.equal((await request(s.url, 'DELETE', '/api/v1/prompts/poll/intro', { key: viewer })).status, 403)
  assert.equal((await request(s.url, 'DELETE', '/api/v1/prompts/poll/intro', { key: operator })).status, 204)
  const gone = await request(s.url, 'DELETE', '/api/v1/prompts/poll/intro', { key: operator })
  assert.equal(gone.status, 404)
  assert.match(gone.body.message, /no prompt named "poll\/intro"/)
  assert.equal((await request(s.url, 'GET', '/api/v1/prompts/poll/intro', { key: viewer })).status, 404)
  const delta = await request(s.url, 'GET', `/api/v1/manifest?since=${manifest.body.version}`, { key: viewer })
  assert.deepEqual({ full: delta.body.full, files: delta.body.files, deleted: delta.body.deleted },
    { full: false, files: [], deleted: ['federate/poll/intro.wav'] })
})

test('bad uploads are refused with what was found and what is wanted, and nothing stored changes', async (t) => {
  const s = await startStorageServer(t, s3.endpoint, { STORAGE_MAX_PROMPT_BYTES: String(MAX) })
  const { operator, viewer } = await keys(s)
  const call = async (r: ReturnType<typeof put>) => await request(s.url, r.method, r.path, r.options)
  assert.equal((await call(put('keep/me', wav(), operator))).status, 201)
  const snapshot = async () => {
    const prompts = await s.deps.pool.query('SELECT * FROM prompts ORDER BY name')
    const versions = await s.deps.pool.query('SELECT * FROM manifest_versions ORDER BY version')
    const list = await request(s.url, 'GET', '/api/v1/prompts', { key: viewer })
    return { prompts: prompts.rows, versions: versions.rows, list: list.body }
  }
  const before = await snapshot()
  const png = Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), Buffer.alloc(200, 7)])

  const cases: Array<[string, ReturnType<typeof put>, number, RegExp[]]> = [
    ['text', put('a/text', 'hello, this is not audio at all\n'.repeat(5), operator), 415, [/text, not audio/, /wanted WAV PCM 8000 or 16000 Hz mono 16-bit/]],
    ['a PNG', put('a/png', png, operator, 'application/octet-stream'), 415, [/PNG image/, /wanted WAV/]],
    ['44.1 kHz stereo WAV', put('a/cd', wav({ rate: 44100, channels: 2, ms: 50 }), operator), 415, [/WAV PCM 44100 Hz stereo 16-bit/, /wanted WAV PCM 8000 or 16000 Hz mono/, /--convert|sox/]],
    ['an empty body', put('a/empty', Buffer.alloc(0), operator), 400, [/body is empty/]],
    ['headerless audio without its extension', put('a/raw', ulaw(), operator), 415, [/unrecognised data/, /needs its extension/]],
    ['.. in the name', put('a/../../etc/passwd', wav(), operator), 400, [/contains a \. or \.\. segment/]],
    ['an encoded .. in the name', put('%2e%2e/x', wav(), operator), 400, [/\.\. segment/]],
    ['a space in the name', put('poll/my%20intro', wav(), operator), 400, [/contains a space/, /try "poll\/my-intro"/]],
    ['unicode in the name', put('poll/%C3%A9t%C3%A9', wav(), operator), 400, [/U\+00E9/, /letters, digits, _ and -/]],
    ['no name', put('', wav(), operator), 400, [/names no prompt/]],
    ['a JSON body', put('a/json', '{"audio":"no"}', operator, 'application/json'), 415, [/application\/json/, /audio\/\*/]],
    ['a body over STORAGE_MAX_PROMPT_BYTES', put('a/big', wav({ ms: 5000 }), operator), 413, [/80044 bytes/, new RegExp(`at most ${MAX} bytes`), /STORAGE_MAX_PROMPT_BYTES/]],
    ['a filename with a path', put('a/p', ulaw(), operator, 'audio/basic', '?filename=../x.ulaw'), 400, [/filename/]],
  ]
  for (const [what, r, status, messages] of cases) {
    const res = await call(r)
    assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`)
    for (const m of messages) assert.match(res.body.message, m, what)
  }
  assert.deepEqual(await snapshot(), before, 'nothing stored changed')
})

test('a flow that plays a missing prompt is refused with the prompt named, and published once it is uploaded', async (t) => {
  const s = await startStorageServer(t, s3.endpoint)
  const post = async () => await request(s.url, 'POST', '/api/v1/flows', {
    key: s.adminKey, body: JSON.stringify({ id: 'ivr', definition: ivr }), headers: { 'content-type': 'application/json' },
  })
  const checked = validateFlow(ivr)
  assert.ok(checked.ok)
  const names = promptsOf(checked.flow)
  assert.ok(names.includes('ivr/welcome'))

  let res = await post()
  assert.equal(res.status, 422)
  assert.equal(res.body.code, 'FED_FLOW_MISSING_PROMPTS')
  for (const n of names) assert.match(res.body.message, new RegExp(n.replace('/', '\\/')))

  for (const [i, n] of names.slice(1).entries()) {
    assert.equal((await request(s.url, 'PUT', `/api/v1/prompts/${n}`, { key: s.adminKey, body: wav({ seed: i }), headers: { 'content-type': 'audio/wav' } })).status, 201)
  }
  res = await post()
  assert.equal(res.status, 422, 'one prompt is still missing')
  assert.equal(res.body.message, `the flow plays prompts that are not in the audio library: ${names[0]}`)
  await request(s.url, 'PUT', `/api/v1/prompts/${names[0]}`, { key: s.adminKey, body: gsm(), headers: { 'content-type': 'audio/x-gsm', 'x-filename': 'a.gsm' } })
  res = await post()
  assert.equal(res.status, 201, JSON.stringify(res.body))
  assert.equal(res.body.version, 1)
})

test('instances get the manifest (full and delta), heartbeats say sync when behind, and recordings upload to a signed URL', async (t) => {
  const s = await startStorageServer(t, s3.endpoint)
  const rpc = createXmlRpcClient({ url: s.rpcUrl, token: await s.tokenFor('ast-1') })
  t.after(() => rpc.close())
  const upload = async (name: string, body: Buffer) =>
    await request(s.url, 'PUT', `/api/v1/prompts/${name}`, { key: s.adminKey, body, headers: { 'content-type': 'audio/wav' } })
  // Decoded structs have null prototypes: copied into plain objects to compare.
  const heartbeat = async (manifestVersion: number) =>
    ({ ...await rpc.call('instance.heartbeat', { instanceId: 'ast-1', activeCalls: 0, capacity: 100, manifestVersion, version: 'test' }) })

  const empty = await rpc.call('storage.manifest', { instanceId: 'ast-1' })
  assert.deepEqual({ ...empty }, { version: 0, full: true, files: [], deleted: [] })
  assert.deepEqual(await heartbeat(0), { commands: ['resume'], manifestVersion: 0 })

  await upload('poll/intro', wav({ seed: 1 }))
  await upload('poll/q1', wav({ seed: 2 }))
  const full = await rpc.call('storage.manifest', { instanceId: 'ast-1' })
  assert.equal(full.full, true)
  assert.equal(full.version, 2)
  assert.deepEqual(full.files.map((f) => f.path), ['federate/poll/intro.wav', 'federate/poll/q1.wav'])
  const fetched = Buffer.from(await (await fetch(full.files[0]!.url)).arrayBuffer())
  assert.equal(fetched.length, full.files[0]!.size)

  // The version is cached ~1 s per server, and dropped when this server changes the library.
  assert.deepEqual(await heartbeat(0), { commands: ['resume', 'sync'], manifestVersion: 2 })
  assert.deepEqual(await heartbeat(2), { commands: ['resume'], manifestVersion: 2 })
  await upload('poll/q2', wav({ seed: 3 }))
  assert.deepEqual(await heartbeat(2), { commands: ['resume', 'sync'], manifestVersion: 3 })
  const delta = await rpc.call('storage.manifest', { instanceId: 'ast-1', since: 2 })
  assert.equal(delta.full, false)
  assert.equal(delta.version, 3)
  assert.deepEqual(delta.files.map((f) => f.path), ['federate/poll/q2.wav'])
  assert.deepEqual(delta.deleted, [])

  // A recording: a signed PUT URL tied to the call and its flow node; the instance PUTs the WAV itself.
  const rec = await rpc.call('recording.upload', { instanceId: 'ast-1', callId: 'ast-1.77.1', node: 'voicemail' })
  assert.match(rec.key, /^recordings\/\d{4}\/\d{2}\/\d{2}\/ast-1\.77\.1\/voicemail\.wav$/)
  assert.ok(rec.expiresSec > 0)
  const audio = wav({ ms: 1000, seed: 9 })
  const putRes = await fetch(rec.url, { method: 'PUT', body: audio })
  assert.equal(putRes.status, 200, await putRes.text())

  const listed = await request(s.url, 'GET', '/api/v1/recordings?callId=ast-1.77.1', { key: s.adminKey })
  assert.equal(listed.status, 200)
  assert.equal(listed.body.length, 1)
  assert.deepEqual({ ...listed.body[0], createdAt: undefined }, { key: rec.key, callId: 'ast-1.77.1', instanceId: 'ast-1', node: 'voicemail', size: null, createdAt: undefined })
  assert.deepEqual((await request(s.url, 'GET', '/api/v1/recordings?callId=other', { key: s.adminKey })).body, [])

  const key = encodeURIComponent(rec.key)
  const redirect = await request(s.url, 'GET', `/api/v1/recordings/download?key=${key}`, { key: s.adminKey })
  assert.equal(redirect.status, 302)
  const got = Buffer.from(await (await fetch(redirect.headers.location!)).arrayBuffer())
  assert.ok(got.equals(audio), 'the recording downloads as uploaded')
  const asJson = await request(s.url, 'GET', `/api/v1/recordings/download?key=${key}`, { key: s.adminKey, headers: { accept: 'application/json' } })
  assert.equal(asJson.status, 200)
  assert.match(asJson.body.url, /^http:\/\/127\.0\.0\.1:\d+\//)
  assert.equal((await request(s.url, 'GET', '/api/v1/recordings/download?key=recordings/nope.wav', { key: s.adminKey })).status, 404)

  // Storage errors are protocol faults: a bad file name is INVALID_PARAMS, another instance FORBIDDEN.
  const fault = async (p: Promise<unknown>) => await p.then(() => assert.fail('expected a fault'), (err: unknown) => {
    assert.ok(err instanceof XmlRpcFaultError, String(err))
    return err
  })
  const bad = await fault(rpc.call('recording.upload', { instanceId: 'ast-1', callId: 'c1', file: '.hidden.wav' }))
  assert.equal(bad.faultCode, -32602)
  assert.match(bad.message, /must match/)
  assert.equal((await fault(rpc.call('recording.upload', { instanceId: 'ast-2', callId: 'c1' }))).faultCode, 1002)
  assert.equal((await s.deps.pool.query('SELECT count(*)::int AS n FROM recordings')).rows[0].n, 1, 'refused uploads register nothing')

  // Every heartbeat asks for the version: one query per second per server, shared by concurrent askers.
  let queries = 0
  const pool = { query: (async (...args: unknown[]) => { queries++; return await (s.deps.pool.query as any)(...args) }) as any, connect: s.deps.pool.connect.bind(s.deps.pool) }
  const service = createStorageService({ pool, s3: s.deps.audio!.context.s3 }, { versionCacheMs: 60_000 })
  const versions = await Promise.all(Array.from({ length: 50 }, async () => await service.currentVersion()))
  assert.deepEqual(new Set(versions), new Set([3]))
  assert.equal(await service.currentVersion(), 3)
  assert.equal(queries, 1)
  await s.deps.pool.query("INSERT INTO manifest_versions (name, path, change) VALUES ('x', 'federate/x.wav', 'delete')")
  assert.equal(await service.currentVersion(), 3, 'cached')
  service.invalidate()
  assert.equal(await service.currentVersion(), 4)
  assert.equal(queries, 2)
})

test('a server whose S3 does not answer refuses to start, naming S3_ENDPOINT', async (t) => {
  const s = await startStorageServer(t, s3.endpoint)
  const dead = `http://127.0.0.1:${await freePort()}`
  const config = loadConfig(serverSettings, {
    env: { DATABASE_URL: s.databaseUrl, FEDERATE_STORAGE: 'true', FEDERATE_DIALER: 'false', S3_ENDPOINT: dead, MEMCACHED_SERVERS: '' },
  })
  await assert.rejects(createServerDeps(config, pino({ level: 'silent' })), (err: Error) => {
    assert.match(err.message, new RegExp(`at ${dead.replace(/[.]/g, '\\.')} \\(S3_ENDPOINT\\): checking bucket`))
    assert.match(err.message, /FEDERATE_STORAGE=false/)
    return true
  })
})
