import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, suffix } from '@federate/testkit'
import { gsm, request, startS3rver, startStorageServer, ulaw, wav } from './audio-helpers.ts'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const s3 = await startS3rver()
after(() => s3.close())

/** `federate <args>` as a user runs it: a separate process, configured by the environment only. */
async function federate (args: string[], env: Record<string, string>): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'apps/cli/src/main.ts', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TZ: 'UTC', LOG_LEVEL: 'silent', MEMCACHED_SERVERS: '', ...env },
      timeout: 60_000,
    }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
  })
}

test('federate audio upload loads a folder, refuses bad files with the reason and exit 2, and flows push names missing prompts', async (t) => {
  const s = await startStorageServer(t, s3.endpoint)
  const dir = await mkdtemp(join(tmpdir(), 'fed-audio-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  await mkdir(join(dir, 'poll'))
  await mkdir(join(dir, 'ivr'))
  await mkdir(join(dir, 'cd'))
  await writeFile(join(dir, 'poll', 'intro.wav'), wav({ ms: 300 }))
  await writeFile(join(dir, 'poll', 'q1.gsm'), gsm(20))
  await writeFile(join(dir, 'ivr', 'menu.ulaw'), ulaw(1600))
  await writeFile(join(dir, 'notes.txt'), 'record the intro again\n'.repeat(10))
  await writeFile(join(dir, 'cd', 'stereo.wav'), wav({ rate: 44100, channels: 2, ms: 50 }))
  await writeFile(join(dir, 'My Intro.wav'), wav())
  await writeFile(join(dir, '.DS_Store'), 'finder junk')
  const env = { DATABASE_URL: s.databaseUrl, S3_ENDPOINT: s3.endpoint, S3_BUCKET: s.bucket, CACHE_PREFIX: `t${suffix()}` }

  const [folder, unreachable] = await Promise.all([
    federate(['audio', 'upload', dir, '--json'], env),
    federate(['audio', 'upload', join(dir, 'poll', 'intro.wav')], { ...env, S3_ENDPOINT: `http://127.0.0.1:${await freePort()}` }),
  ])
  assert.equal(folder.code, 2, folder.stderr)
  const out = JSON.parse(folder.stdout)
  const byName = Object.fromEntries(out.results.map((r: { name: string }) => [r.name, r]))
  assert.deepEqual(Object.keys(byName).sort(), ['My Intro', 'cd/stereo', 'ivr/menu', 'notes', 'poll/intro', 'poll/q1'], 'hidden files are skipped')
  assert.deepEqual([out.uploaded, out.unchanged, out.refused], [3, 0, 3])
  assert.equal(byName['poll/intro'].status, 'uploaded')
  assert.equal(byName['poll/q1'].format, 'gsm')
  assert.equal(byName['ivr/menu'].format, 'ulaw')
  assert.match(byName.notes.reason, /text, not audio \(\.txt\)/)
  assert.match(byName['cd/stereo'].reason, /44100 Hz stereo/)
  assert.match(byName['My Intro'].reason, /contains a space.*try "My-Intro"/)

  assert.equal(unreachable.code, 3, unreachable.stderr)
  assert.match(unreachable.stderr, /cannot reach S3 at http:\/\/127\.0\.0\.1:\d+ \(S3_ENDPOINT\)/)

  const listed = await request(s.url, 'GET', '/api/v1/prompts', { key: s.adminKey })
  assert.deepEqual(listed.body.map((p: { name: string }) => p.name), ['ivr/menu', 'poll/intro', 'poll/q1'], 'the good files loaded')

  const [single, push] = await Promise.all([
    federate(['audio', 'upload', join(dir, 'poll', 'intro.wav'), '--as', 'poll/intro'], env),
    federate(['flows', 'push', 'examples/flows/ivr.json'], env),
  ])
  assert.equal(single.code, 0, single.stderr)
  assert.match(single.stdout, /^unchanged +poll\/intro {2}\(wav, 0\.3 s, /m)
  assert.match(single.stdout, /1 file: 0 uploaded, 1 unchanged, 0 refused/)

  assert.equal(push.code, 2, push.stderr)
  // Every prompt the flow plays but ivr/menu, which the folder upload loaded.
  assert.match(push.stderr, /not in the audio library: ivr\/goodbye, ivr\/hours, ivr\/invalid, ivr\/leave-message, ivr\/no-input, ivr\/sales-busy, ivr\/thanks, ivr\/welcome \(upload them/)
  assert.equal((await s.deps.pool.query('SELECT count(*)::int AS n FROM flows')).rows[0].n, 0, 'nothing was published')
})
