import { after, before, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import {
  deletePrompt, manifest, partialPath, putPrompt, promptObjectKey, StorageError, syncManifest, syncedVersion, SYNC_STATE_FILE,
  type Manifest,
} from '../src/index.ts'
import { gsm, wav } from './fixtures.ts'
import { openTestDatabase, startS3rver, storageFor as storageIn } from './helpers.ts'

let server: Awaited<ReturnType<typeof startS3rver>>
let db: Awaited<ReturnType<typeof openTestDatabase>>
before(async () => { [server, db] = await Promise.all([startS3rver(), openTestDatabase()]) })
after(async () => { await Promise.all([server.close(), db.close()]) })

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

async function setup (t: TestContext) {
  const ctx = await storageIn(t, db, server.endpoint)
  const soundsDir = await mkdtemp(join(tmpdir(), 'fed-sounds-'))
  t.after(() => rm(soundsDir, { recursive: true, force: true }))
  return { ctx, soundsDir }
}

/** Every file under `dir` (relative, with forward slashes), hidden ones included. */
async function tree (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath ?? e.path, e.name)))
    .sort()
}

test('a second sync of the same manifest downloads nothing', async (t) => {
  const { ctx, soundsDir } = await setup(t)
  const a = wav({ seed: 1, ms: 300 })
  const b = gsm(40)
  await putPrompt(ctx, 'poll/a', a)
  await putPrompt(ctx, 'menu/b', b, { filename: 'b.gsm' })
  const m = await manifest(ctx)

  const first = await syncManifest({ manifest: m, soundsDir })
  assert.deepEqual(first.downloaded, ['federate/menu/b.gsm', 'federate/poll/a.wav'])
  assert.equal(first.downloadedBytes, a.length + b.length)
  assert.deepEqual(first.failed, [])
  assert.equal(first.version, 2)
  assert.equal(sha(await readFile(join(soundsDir, 'federate/poll/a.wav'))), sha(a))
  assert.equal(sha(await readFile(join(soundsDir, 'federate/menu/b.gsm'))), sha(b))
  assert.deepEqual(await tree(soundsDir), [`federate/${SYNC_STATE_FILE}`, 'federate/menu/b.gsm', 'federate/poll/a.wav'])

  const second = await syncManifest({ manifest: await manifest(ctx), soundsDir })
  assert.deepEqual(second, { version: 2, downloadedBytes: 0, downloaded: [], removed: [], skipped: 2, failed: [] })
  assert.equal(await syncedVersion(soundsDir), 2)
})

test('a delta downloads exactly the changed bytes and removes deleted files', async (t) => {
  const { ctx, soundsDir } = await setup(t)
  await putPrompt(ctx, 'keep', wav({ seed: 1 }))
  await putPrompt(ctx, 'poll/change', wav({ seed: 2 }))
  await putPrompt(ctx, 'poll/sub/gone', wav({ seed: 3 }))
  const v1 = await manifest(ctx)
  await syncManifest({ manifest: v1, soundsDir })

  const changed = wav({ seed: 4, ms: 700 })
  await putPrompt(ctx, 'poll/change', changed)
  await deletePrompt(ctx, 'poll/sub/gone')
  const delta = await manifest(ctx, v1.version)
  assert.equal(delta.full, false)
  const res = await syncManifest({ manifest: delta, soundsDir })
  assert.equal(res.downloadedBytes, changed.length)
  assert.deepEqual(res.downloaded, ['federate/poll/change.wav'])
  assert.deepEqual(res.removed, ['federate/poll/sub/gone.wav'])
  assert.equal(sha(await readFile(join(soundsDir, 'federate/poll/change.wav'))), sha(changed))
  // The emptied folder goes too; nothing else is touched.
  assert.deepEqual(await tree(soundsDir), [`federate/${SYNC_STATE_FILE}`, 'federate/keep.wav', 'federate/poll/change.wav'])
  assert.equal((await syncManifest({ manifest: await manifest(ctx), soundsDir })).downloadedBytes, 0)
})

test('a download whose bytes do not match the manifest hash is not installed', async (t) => {
  const { ctx, soundsDir } = await setup(t)
  const good = wav({ seed: 1 })
  await putPrompt(ctx, 'intro', good)
  await syncManifest({ manifest: await manifest(ctx), soundsDir })

  const next = wav({ seed: 2 })
  const v = await putPrompt(ctx, 'intro', next)
  // The stored object is damaged (bit rot, a tampered bucket): same key, other bytes.
  const damaged = Buffer.from(next)
  damaged[damaged.length - 1] ^= 0xff
  await ctx.s3.put(promptObjectKey(sha(next), 'wav'), damaged)
  const res = await syncManifest({ manifest: await manifest(ctx, 1), soundsDir })
  assert.deepEqual(res.downloaded, [])
  assert.deepEqual(res.failed.map((f) => [f.path, f.code]), [['federate/intro.wav', 'FED_STORAGE_HASH_MISMATCH']])
  assert.equal(res.version, v.version)
  assert.equal(await syncedVersion(soundsDir), 1, 'an incomplete pass does not move the synced version')
  // The previous, verified file is still what plays; no temp file is left behind.
  assert.equal(sha(await readFile(join(soundsDir, 'federate/intro.wav'))), sha(good))
  assert.deepEqual(await tree(soundsDir), [`federate/${SYNC_STATE_FILE}`, 'federate/intro.wav'])

  // Repaired at the source: the next pass installs it.
  await ctx.s3.put(promptObjectKey(sha(next), 'wav'), next)
  const retry = await syncManifest({ manifest: await manifest(ctx, 1), soundsDir })
  assert.deepEqual(retry.downloaded, ['federate/intro.wav'])
  assert.equal(await syncedVersion(soundsDir), v.version)
  assert.equal(sha(await readFile(join(soundsDir, 'federate/intro.wav'))), sha(next))
})

test('a partial download left by a killed pass is resumed, and stale temp files are removed', async (t) => {
  const { ctx, soundsDir } = await setup(t)
  const big = wav({ seed: 1, ms: 3000 })
  const other = wav({ seed: 2 })
  await putPrompt(ctx, 'big', big)
  await putPrompt(ctx, 'other', other)
  const m = await manifest(ctx)
  // What a pass killed mid-download leaves: half of big's bytes under its temp name, and a
  // temp file for content no manifest wants any more.
  await mkdir(join(soundsDir, 'federate'), { recursive: true })
  const half = Math.floor(big.length / 2)
  await writeFile(join(soundsDir, partialPath('federate/big.wav', sha(big))), big.subarray(0, half))
  const stale = partialPath('federate/old.wav', 'ab'.repeat(32))
  await writeFile(join(soundsDir, stale), 'leftover')
  // Nothing half-written is visible under a final name.
  assert.deepEqual((await tree(soundsDir)).filter((p) => !p.split('/').at(-1)!.startsWith('.')), [])

  const res = await syncManifest({ manifest: m, soundsDir })
  assert.deepEqual(res.downloaded, ['federate/big.wav', 'federate/other.wav'])
  assert.equal(res.downloadedBytes, big.length - half + other.length, 'only the missing half of big was fetched')
  assert.equal(sha(await readFile(join(soundsDir, 'federate/big.wav'))), sha(big))
  assert.deepEqual(await tree(soundsDir), [`federate/${SYNC_STATE_FILE}`, 'federate/big.wav', 'federate/other.wav'])
})

test('a leftover temp file holding wrong bytes is discarded and the file fetched whole', async (t) => {
  const { ctx, soundsDir } = await setup(t)
  const a = wav({ seed: 1, ms: 1000 })
  await putPrompt(ctx, 'a', a)
  await mkdir(join(soundsDir, 'federate'), { recursive: true })
  await writeFile(join(soundsDir, partialPath('federate/a.wav', sha(a))), Buffer.alloc(100, 7))
  const res = await syncManifest({ manifest: await manifest(ctx), soundsDir })
  assert.deepEqual(res.failed, [])
  assert.equal(res.downloadedBytes, a.length - 100 + a.length, 'the resumed tail, then the whole file')
  assert.equal(sha(await readFile(join(soundsDir, 'federate/a.wav'))), sha(a))
})

test('the state file spares re-hashing until a file\'s size or mtime changes', async (t) => {
  const { ctx, soundsDir } = await setup(t)
  const a = wav({ seed: 1 })
  await putPrompt(ctx, 'a', a)
  await syncManifest({ manifest: await manifest(ctx), soundsDir })
  const file = join(soundsDir, 'federate/a.wav')
  const st = await stat(file)
  // Same size, same mtime: trusted from the state file (the damage is not even read).
  await writeFile(file, Buffer.alloc(a.length, 1))
  await utimes(file, st.atime, st.mtime)
  assert.equal((await syncManifest({ manifest: await manifest(ctx), soundsDir })).skipped, 1)
  // A newer mtime: hashed, found wrong, fetched again.
  await utimes(file, new Date(), new Date(Date.now() + 5000))
  const res = await syncManifest({ manifest: await manifest(ctx), soundsDir })
  assert.deepEqual(res.downloaded, ['federate/a.wav'])
  assert.equal(sha(await readFile(file)), sha(a))
  // Without the state file, files already right are hashed and kept.
  await rm(join(soundsDir, 'federate', SYNC_STATE_FILE))
  const again = await syncManifest({ manifest: await manifest(ctx), soundsDir })
  assert.equal(again.downloadedBytes, 0)
  assert.equal(again.skipped, 1)
})

test('a full manifest removes files it does not list, but only under federate/', async (t) => {
  const { ctx, soundsDir } = await setup(t)
  await putPrompt(ctx, 'a', wav({ seed: 1 }))
  await mkdir(join(soundsDir, 'federate/old'), { recursive: true })
  await mkdir(join(soundsDir, 'en'), { recursive: true })
  await writeFile(join(soundsDir, 'federate/old/stray.wav'), 'stray')
  await writeFile(join(soundsDir, 'en/hello-world.gsm'), 'asterisk own sound')
  const res = await syncManifest({ manifest: await manifest(ctx), soundsDir })
  assert.deepEqual(res.removed, ['federate/old/stray.wav'])
  assert.deepEqual(await tree(soundsDir), ['en/hello-world.gsm', `federate/${SYNC_STATE_FILE}`, 'federate/a.wav'])
})

test('manifest paths that are absolute, climb out or leave federate/ are refused before any write', async (t) => {
  const { ctx, soundsDir } = await setup(t)
  await putPrompt(ctx, 'a', wav())
  const good = await manifest(ctx)
  const entry = good.files[0]!
  const bad: Array<[string, Manifest]> = [
    ['climb', { ...good, files: [entry, { ...entry, path: 'federate/../../evil.wav' }] }],
    ['absolute', { ...good, files: [{ ...entry, path: '/tmp/evil.wav' }] }],
    ['outside', { ...good, files: [{ ...entry, path: 'en/hello-world.wav' }] }],
    ['delete outside', { ...good, full: false, files: [], deleted: ['federate/../../x'] }],
    ['bad hash', { ...good, files: [{ ...entry, sha256: 'nope' }] }],
    ['twice', { ...good, files: [entry, entry] }],
  ]
  for (const [what, m] of bad) {
    await assert.rejects(syncManifest({ manifest: m, soundsDir }), (err: unknown) => err instanceof StorageError && err.code === 'FED_STORAGE_BAD_NAME', what)
  }
  assert.deepEqual(await readdir(soundsDir), [])
})

test('downloads run at most `concurrency` at a time and failures are reported, not thrown', async (t) => {
  const { ctx, soundsDir } = await setup(t)
  for (let i = 0; i < 9; i++) await putPrompt(ctx, `p${i}`, wav({ seed: i + 1 }))
  const m = await manifest(ctx)
  let active = 0
  let peak = 0
  const counting: typeof fetch = async (input, init) => {
    active++
    peak = Math.max(peak, active)
    try {
      const res = await fetch(input, init)
      return new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers })
    } finally {
      active--
    }
  }
  // One URL points at nothing: a 404 for that file, the others still install.
  const broken = { ...m, files: m.files.map((f, i) => i === 4 ? { ...f, url: f.url.replace(/prompts\/sha256\/[0-9a-f]+/, 'prompts/sha256/missing') } : f) }
  // Two passes at once over one folder queue behind each other instead of racing.
  const [res, concurrent] = await Promise.all([
    syncManifest({ manifest: broken, soundsDir, concurrency: 3, fetch: counting }),
    syncManifest({ manifest: broken, soundsDir, concurrency: 3, fetch: counting }),
  ])
  assert.equal(concurrent.downloaded.length, 0)
  assert.equal(concurrent.skipped, 8)
  assert.equal(peak, 3)
  assert.equal(res.downloaded.length, 8)
  assert.deepEqual(res.failed.map((f) => [f.path, f.code]), [['federate/p4.wav', 'FED_STORAGE_DOWNLOAD_FAILED']])
  assert.match(res.failed[0]!.message, /HTTP 40[34]/)
  const retry = await syncManifest({ manifest: m, soundsDir })
  assert.deepEqual(retry.downloaded, ['federate/p4.wav'])
})
