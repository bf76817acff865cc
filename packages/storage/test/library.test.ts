import { after, before, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { Compile } from 'typebox/compile'
import { ManifestResult } from '@federate/protocol'
import { waitFor } from '@federate/testkit'
import {
  collectGarbage, deletePrompt, getPrompt, listPrompts, manifest, manifestVersion, promptExists, putPrompt, promptDownloadUrl,
  listRecordings, recordingDownloadUrl, recordingUploadUrl, recordRecording, soxAvailable, StorageError, type StorageErrorCode,
} from '../src/index.ts'
import { gsm, ulaw, wav } from './fixtures.ts'
import { objects, openTestDatabase, startS3rver, storageFor as storageIn, tables } from './helpers.ts'

let server: Awaited<ReturnType<typeof startS3rver>>
let db: Awaited<ReturnType<typeof openTestDatabase>>
before(async () => { [server, db] = await Promise.all([startS3rver(), openTestDatabase()]) })
after(async () => { await Promise.all([server.close(), db.close()]) })
const storageFor = (t: TestContext, endpoint: string, config?: Parameters<typeof storageIn>[3]) => storageIn(t, db, endpoint, config)

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')
const checkManifest = Compile(ManifestResult)

function code (c: StorageErrorCode, pattern?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof StorageError, String(err))
    assert.equal(err.code, c)
    if (pattern) assert.match(err.message, pattern)
    return true
  }
}

test('a prompt is stored once by content hash and listed with its instance path', async (t) => {
  const ctx = await storageFor(t, server.endpoint)
  const intro = wav({ ms: 200, seed: 1 })
  const first = await putPrompt(ctx, 'poll/intro', intro)
  assert.equal(first.changed, true)
  assert.equal(first.deduplicated, false)
  assert.equal(first.version, 1)
  assert.equal(first.prompt.path, 'federate/poll/intro.wav')
  assert.equal(first.prompt.s3Key, `prompts/sha256/${sha(intro)}.wav`)
  assert.equal(first.prompt.durationMs, 200)

  // The same content under a second name: a new row and version, no second object.
  const copy = await putPrompt(ctx, 'poll/intro-copy', intro)
  assert.equal(copy.deduplicated, true)
  assert.equal(copy.version, 2)
  assert.deepEqual(await objects(ctx.s3), { [first.prompt.s3Key]: intro.length })
  assert.equal(sha(await ctx.s3.get(first.prompt.s3Key)), sha(intro))

  const listed = await listPrompts(ctx)
  assert.deepEqual(listed.map((p) => [p.name, p.path, p.size]), [
    ['poll/intro', 'federate/poll/intro.wav', intro.length],
    ['poll/intro-copy', 'federate/poll/intro-copy.wav', intro.length],
  ])
  assert.deepEqual((await listPrompts(ctx, { prefix: 'poll/intro-' })).map((p) => p.name), ['poll/intro-copy'])
  assert.equal((await getPrompt(ctx, 'poll/intro.wav'))?.sha256, sha(intro))
})

test('uploading unchanged content is a no-op that does not bump the manifest version', async (t) => {
  const ctx = await storageFor(t, server.endpoint)
  const intro = wav()
  await putPrompt(ctx, 'intro', intro)
  const before = await tables(ctx)
  const again = await putPrompt(ctx, 'intro', Buffer.from(intro))
  assert.equal(again.changed, false)
  assert.equal(again.version, 1)
  assert.deepEqual(await tables(ctx), before)
})

test('replacing and deleting a prompt each append one manifest change', async (t) => {
  const ctx = await storageFor(t, server.endpoint)
  const v1 = wav({ seed: 1 })
  const v2 = wav({ seed: 2 })
  await putPrompt(ctx, 'intro', v1)
  const replaced = await putPrompt(ctx, 'intro', v2)
  assert.equal(replaced.changed, true)
  assert.equal(replaced.version, 2)
  assert.equal((await getPrompt(ctx, 'intro'))?.sha256, sha(v2))
  // Both contents stay in S3: instances may still be fetching the old one.
  assert.equal(Object.keys(await objects(ctx.s3)).length, 2)

  assert.deepEqual(await deletePrompt(ctx, 'intro'), { version: 3 })
  assert.equal(await getPrompt(ctx, 'intro'), undefined)
  assert.deepEqual(await listPrompts(ctx), [])
  await assert.rejects(deletePrompt(ctx, 'intro'), code('FED_STORAGE_NOT_FOUND', /no prompt named "intro"/))
  assert.equal(await manifestVersion(ctx), 3)

  // Re-uploading a deleted prompt brings it back.
  const back = await putPrompt(ctx, 'intro', v1)
  assert.equal(back.changed, true)
  assert.equal(back.deduplicated, true)
  assert.equal(back.version, 4)
})

test('promptExists returns the names that are not live prompts, once each, in order', async (t) => {
  const ctx = await storageFor(t, server.endpoint)
  await putPrompt(ctx, 'a', wav())
  await putPrompt(ctx, 'b', gsm(), { filename: 'b.gsm' })
  await putPrompt(ctx, 'c', ulaw(), { filename: 'c.ulaw' })
  await deletePrompt(ctx, 'c')
  assert.deepEqual(await promptExists(ctx, ['a', 'x', 'b', 'c', 'x']), ['x', 'c'])
  assert.deepEqual(await promptExists(ctx, []), [])
})

test('headerless formats take their extension from the file name or the given name', async (t) => {
  const ctx = await storageFor(t, server.endpoint)
  const a = await putPrompt(ctx, 'menu/main.gsm', gsm())
  assert.equal(a.prompt.name, 'menu/main')
  assert.equal(a.prompt.path, 'federate/menu/main.gsm')
  const b = await putPrompt(ctx, 'raw', ulaw(), { filename: 'RAW.PCM' })
  assert.equal(b.prompt.format, 'ulaw')
  assert.equal(b.prompt.path, 'federate/raw.ulaw')
})

test('bad input is refused and leaves the database and the bucket unchanged', async (t) => {
  const ctx = await storageFor(t, server.endpoint, { storageMaxPromptBytes: 100_000 })
  await putPrompt(ctx, 'keep', wav())
  const before = { db: await tables(ctx), bucket: await objects(ctx.s3) }
  const cases: Array<[string, Promise<unknown>, StorageErrorCode, RegExp]> = [
    ['not audio', putPrompt(ctx, 'doc', Buffer.from('%PDF-1.7 not audio at all')), 'FED_STORAGE_BAD_AUDIO', /PDF/],
    ['44.1 kHz stereo', putPrompt(ctx, 'music', wav({ rate: 44100, channels: 2 })), 'FED_STORAGE_BAD_AUDIO', /WAV PCM 44100 Hz stereo 16-bit: wanted/],
    ['empty', putPrompt(ctx, 'empty', Buffer.alloc(0), { filename: 'empty.wav' }), 'FED_STORAGE_BAD_AUDIO', /empty file/],
    ['too large', putPrompt(ctx, 'big', wav({ ms: 10_000 })), 'FED_STORAGE_BAD_AUDIO', /larger than the limit of 100000 bytes/],
    ['..', putPrompt(ctx, '../escape', wav()), 'FED_STORAGE_BAD_NAME', /\.\. segment/],
    ['absolute', putPrompt(ctx, '/etc/x', wav()), 'FED_STORAGE_BAD_NAME', /starts with \//],
    ['spaces', putPrompt(ctx, 'my intro', wav()), 'FED_STORAGE_BAD_NAME', /a space.*try "my-intro"/],
    ['unicode', putPrompt(ctx, 'accueil-été', wav()), 'FED_STORAGE_BAD_NAME', /U\+00E9/],
    ['replace with bad audio', putPrompt(ctx, 'keep', wav({ bits: 8 })), 'FED_STORAGE_BAD_AUDIO', /8-bit/],
    ['delete with a bad name', deletePrompt(ctx, '../keep'), 'FED_STORAGE_BAD_NAME', /\.\./],
  ]
  for (const [what, promise, c, pattern] of cases) {
    await assert.rejects(promise, code(c, pattern), what)
  }
  assert.deepEqual({ db: await tables(ctx), bucket: await objects(ctx.s3) }, before)
})

test('with convert, audio sox can read is stored as 8 kHz WAV; without, it is refused', { skip: !soxAvailable() && 'sox is not installed' }, async (t) => {
  const ctx = await storageFor(t, server.endpoint)
  const music = wav({ rate: 44100, channels: 2, ms: 300 })
  await assert.rejects(putPrompt(ctx, 'music', music), code('FED_STORAGE_BAD_AUDIO'))
  const res = await putPrompt(ctx, 'music', music, { filename: 'music.wav', convert: true })
  assert.equal(res.prompt.format, 'wav')
  assert.equal(res.audio.sampleRate, 8000)
  assert.equal(res.prompt.size, 44 + 300 * 8 * 2)
  await assert.rejects(putPrompt(ctx, 'junk', Buffer.from('plain text'), { filename: 'junk.txt', convert: true }), code('FED_STORAGE_CONVERT_FAILED'))
})

test('the full manifest lists every live prompt with a signed URL serving its bytes', async (t) => {
  const ctx = await storageFor(t, server.endpoint)
  const empty = await manifest(ctx)
  assert.deepEqual(empty, { version: 0, full: true, files: [], deleted: [] })
  const a = wav({ seed: 1 })
  const b = gsm(20)
  await putPrompt(ctx, 'poll/a', a)
  await putPrompt(ctx, 'poll/b', b, { filename: 'b.gsm' })
  const m = await manifest(ctx)
  assert.ok(checkManifest.Check(m), JSON.stringify([...checkManifest.Errors(m)]))
  assert.equal(m.version, 2)
  assert.equal(m.full, true)
  assert.deepEqual(m.files.map((f) => [f.path, f.sha256, f.size]), [
    ['federate/poll/a.wav', sha(a), a.length],
    ['federate/poll/b.gsm', sha(b), b.length],
  ])
  for (const [f, bytes] of [[m.files[0]!, a], [m.files[1]!, b]] as const) {
    const res = await fetch(f.url)
    assert.equal(res.status, 200)
    assert.equal(sha(Buffer.from(await res.arrayBuffer())), sha(bytes))
  }
})

test('a delta lists only what changed after `since`; a format change deletes the old path', async (t) => {
  const ctx = await storageFor(t, server.endpoint)
  await putPrompt(ctx, 'a', wav({ seed: 1 }))
  await putPrompt(ctx, 'b', wav({ seed: 2 }))
  await putPrompt(ctx, 'c', wav({ seed: 3 }))
  await putPrompt(ctx, 'd', wav({ seed: 4 })) // version 4
  const a2 = wav({ seed: 5 })
  await putPrompt(ctx, 'a', a2) // 5
  await deletePrompt(ctx, 'b') // 6
  await putPrompt(ctx, 'c', gsm(), { filename: 'c.gsm' }) // 7 (delete c.wav) and 8 (put c.gsm)
  const delta = await manifest(ctx, 4)
  assert.ok(checkManifest.Check(delta))
  assert.equal(delta.version, 8)
  assert.equal(delta.full, false)
  assert.deepEqual(delta.files.map((f) => [f.path, f.sha256]), [['federate/a.wav', sha(a2)], ['federate/c.gsm', sha(gsm())]])
  assert.deepEqual(delta.deleted, ['federate/b.wav', 'federate/c.wav'])
  assert.deepEqual(await manifest(ctx, 8), { version: 8, full: false, files: [], deleted: [] })
  // A put then delete after `since` is just a delete; a delete then put is just a put.
  await putPrompt(ctx, 'e', wav({ seed: 6 }))
  await deletePrompt(ctx, 'e')
  await deletePrompt(ctx, 'd')
  await putPrompt(ctx, 'd', wav({ seed: 7 }))
  const next = await manifest(ctx, 8)
  assert.deepEqual(next.files.map((f) => f.path), ['federate/d.wav'])
  assert.deepEqual(next.deleted, ['federate/e.wav'])
})

test('a `since` ahead of the log (a restored database) gets the full manifest', async (t) => {
  const ctx = await storageFor(t, server.endpoint)
  await putPrompt(ctx, 'a', wav({ seed: 1 }))
  await putPrompt(ctx, 'a', wav({ seed: 2 }))
  const ahead = await manifest(ctx, 99)
  assert.equal(ahead.full, true)
  assert.equal(ahead.version, 2)
  assert.deepEqual(ahead.files.map((f) => f.path), ['federate/a.wav'])
  await putPrompt(ctx, 'b', wav({ seed: 3 }))
  await deletePrompt(ctx, 'a')
  // From zero: a delta of everything that ever changed.
  const fromZero = await manifest(ctx, 0)
  assert.equal(fromZero.full, false)
  assert.deepEqual(fromZero.files.map((f) => f.path), ['federate/b.wav'])
  assert.deepEqual(fromZero.deleted, ['federate/a.wav'])
})

test('manifest URLs expire after the configured TTL', async (t) => {
  const ctx = await storageFor(t, server.endpoint, { storageUrlTtlSec: 2 })
  await putPrompt(ctx, 'a', wav())
  const { files: [f] } = await manifest(ctx)
  assert.equal((await fetch(f!.url)).status, 200)
  await waitFor(async () => {
    const res = await fetch(f!.url)
    await res.arrayBuffer()
    return res.status === 403
  }, { timeoutMs: 5000, intervalMs: 200, what: 'the URL to expire' })
  const fresh = await manifest(ctx)
  assert.equal((await fetch(fresh.files[0]!.url)).status, 200)
})

test('concurrent uploads get distinct, gap-free manifest versions', async (t) => {
  const ctx = await storageFor(t, server.endpoint)
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => putPrompt(ctx, `p${i}`, wav({ seed: i + 1 }))))
  assert.deepEqual(results.map((r) => r.version).sort((x, y) => x - y), [1, 2, 3, 4, 5, 6, 7, 8])
  assert.equal((await manifest(ctx, 0)).files.length, 8)
})

test('a prompt download URL serves the stored audio; a missing prompt is NOT_FOUND', async (t) => {
  const ctx = await storageFor(t, server.endpoint)
  const a = wav()
  await putPrompt(ctx, 'a', a)
  const { url } = await promptDownloadUrl(ctx, 'a')
  assert.equal(sha(Buffer.from(await (await fetch(url)).arrayBuffer())), sha(a))
  await assert.rejects(promptDownloadUrl(ctx, 'missing'), code('FED_STORAGE_NOT_FOUND'))
})

test('garbage collection removes only prompt objects nothing uses after the grace period', async (t) => {
  const ctx = await storageFor(t, server.endpoint)
  const a = await putPrompt(ctx, 'a', wav({ seed: 1 }))
  const old = await putPrompt(ctx, 'b', wav({ seed: 2 }))
  await putPrompt(ctx, 'b', wav({ seed: 3 }))
  await putPrompt(ctx, 'c', wav({ seed: 4 }))
  await deletePrompt(ctx, 'c')
  await ctx.s3.put('recordings/2025/01/01/x/y.wav', Buffer.from('rec'))
  // Within the grace period everything stays (instances may still fetch the old content).
  assert.deepEqual(await collectGarbage(ctx), [])
  // Pretend the changes are old and the objects too.
  await ctx.pool.query("UPDATE manifest_versions SET created_at = now() - interval '2 days'")
  const orphans = (await collectGarbage(ctx, { graceSec: 0, dryRun: true })).sort()
  assert.equal(orphans.length, 2)
  assert.ok(orphans.includes(old.prompt.s3Key))
  assert.deepEqual(await collectGarbage(ctx, { graceSec: 0 }), orphans)
  assert.deepEqual(Object.keys(await objects(ctx.s3)).sort(), [a.prompt.s3Key, (await getPrompt(ctx, 'b'))!.s3Key, 'recordings/2025/01/01/x/y.wav'].sort())
})

test('a recording is uploaded with a signed PUT URL, registered, listed and downloaded', async (t) => {
  const ctx = await storageFor(t, server.endpoint)
  const up = await recordingUploadUrl(ctx, { instanceId: 'i-1', callId: 'call-42', file: 'answer.wav', node: 'q1' })
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/')
  assert.equal(up.key, `recordings/${day}/call-42/answer.wav`)
  assert.equal(up.expiresSec, 900)
  const audio = wav({ ms: 500 })
  assert.equal((await fetch(up.url, { method: 'PUT', body: audio })).status, 200)
  const rec = await recordRecording(ctx, { key: up.key, callId: 'call-42', instanceId: 'i-1', node: 'q1' })
  assert.equal(rec.size, audio.length)
  // Registering again (a resend) keeps one row.
  await recordRecording(ctx, { key: up.key, callId: 'call-42', instanceId: 'i-1', node: 'q1', size: audio.length })
  const other = await recordingUploadUrl(ctx, { instanceId: 'i-1', callId: 'call-43' })
  assert.match(other.key, /\/call-43\/recording\.wav$/)
  await recordRecording(ctx, { key: other.key, callId: 'call-43' })
  assert.deepEqual((await listRecordings(ctx, { callId: 'call-42' })).map((r) => [r.key, r.node, r.size]), [[up.key, 'q1', audio.length]])
  assert.equal((await listRecordings(ctx)).length, 2)
  assert.equal((await listRecordings(ctx, { callId: 'call-43' }))[0]!.size, null, 'not uploaded yet')
  const { url } = await recordingDownloadUrl(ctx, up.key)
  assert.equal(sha(Buffer.from(await (await fetch(url)).arrayBuffer())), sha(audio))
  await assert.rejects(recordingDownloadUrl(ctx, 'prompts/sha256/x.wav'), code('FED_STORAGE_NOT_FOUND'))
})

test('recording names that could escape their folder are refused', async (t) => {
  const ctx = await storageFor(t, server.endpoint)
  const before = await tables(ctx)
  await assert.rejects(recordingUploadUrl(ctx, { instanceId: 'i-1', callId: '..', file: 'x.wav' }), code('FED_STORAGE_BAD_NAME'))
  await assert.rejects(recordingUploadUrl(ctx, { instanceId: 'i-1', callId: 'c/1' }), code('FED_STORAGE_BAD_NAME'))
  await assert.rejects(recordingUploadUrl(ctx, { instanceId: 'i-1', callId: 'c1', file: '../x.wav' }), code('FED_STORAGE_BAD_NAME'))
  await assert.rejects(recordingUploadUrl(ctx, { instanceId: 'i-1', callId: 'c1', file: '.hidden' }), code('FED_STORAGE_BAD_NAME'))
  await assert.rejects(recordRecording(ctx, { key: 'prompts/sha256/x.wav', callId: 'c1' }), code('FED_STORAGE_BAD_NAME'))
  await assert.rejects(recordRecording(ctx, { key: 'recordings/2025/01/01/c2/x.wav', callId: 'c1' }), code('FED_STORAGE_BAD_NAME'))
  assert.deepEqual(await tables(ctx), before)
  assert.deepEqual(await objects(ctx.s3, 'recordings/'), {})
})
