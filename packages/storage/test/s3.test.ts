import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { waitFor } from '@federate/testkit'
import { createS3, StorageError } from '../src/index.ts'
import { bucketFor, s3Config, startS3rver } from './helpers.ts'

let server: Awaited<ReturnType<typeof startS3rver>>
before(async () => { server = await startS3rver() })
after(() => server.close())

const sha = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex')

test('ensureBucket creates a missing bucket and is idempotent', async (t) => {
  const s3 = createS3(s3Config(server.endpoint))
  t.after(() => s3.close())
  await s3.ensureBucket()
  await s3.ensureBucket()
  await s3.put('k', Buffer.from('x'))
  assert.deepEqual(await s3.head('k'), { size: 1 })
})

test('a streamed upload stores exactly its bytes (no 56-byte checksum trailer)', async (t) => {
  const s3 = await bucketFor(t, server.endpoint)
  const data = randomBytes(300_001)
  const chunks = [data.subarray(0, 100_000), data.subarray(100_000, 250_000), data.subarray(250_000)]
  await s3.put('stream.bin', Readable.from(chunks), { contentLength: data.length })
  assert.deepEqual(await s3.head('stream.bin'), { size: data.length })
  assert.equal(sha(await s3.get('stream.bin')), sha(data))
  await s3.put('buffer.bin', data)
  assert.equal(sha(await s3.get('buffer.bin')), sha(data))
})

test('a stream without a length is refused before anything is sent', async (t) => {
  const s3 = await bucketFor(t, server.endpoint)
  await assert.rejects(s3.put('x', Readable.from([Buffer.from('abc')])), /contentLength/)
  assert.equal(await s3.head('x'), undefined)
})

test('a missing object reads as undefined from head and NOT_FOUND from get', async (t) => {
  const s3 = await bucketFor(t, server.endpoint)
  assert.equal(await s3.head('nope'), undefined)
  await assert.rejects(s3.get('nope'), (err: unknown) => err instanceof StorageError && err.code === 'FED_STORAGE_NOT_FOUND')
})

// s3rver checks a SigV4 URL's expiry but not its signature ("unimplemented" in its
// authentication middleware): signature tampering can only be tested against real S3.
test('signed GET and PUT URLs work with plain HTTP', async (t) => {
  const s3 = await bucketFor(t, server.endpoint)
  const data = randomBytes(1000)
  const put = await s3.presignPut('up/file.bin', 60)
  const res = await fetch(put, { method: 'PUT', body: data })
  assert.equal(res.status, 200)
  const get = await s3.presignGet('up/file.bin', 60)
  const got = await fetch(get)
  assert.equal(got.status, 200)
  assert.equal(sha(Buffer.from(await got.arrayBuffer())), sha(data))
})

test('an expired signed URL is refused', async (t) => {
  const s3 = await bucketFor(t, server.endpoint)
  await s3.put('short.bin', Buffer.from('short-lived'))
  const url = await s3.presignGet('short.bin', 2)
  assert.equal((await fetch(url)).status, 200)
  const res = await waitFor(async () => {
    const r = await fetch(url)
    await r.arrayBuffer()
    return r.status === 403 ? r : undefined
  }, { timeoutMs: 5000, intervalMs: 200, what: 'the URL to expire' })
  assert.equal(res.status, 403)
})

test('an unreachable endpoint fails fast as a retryable UNAVAILABLE', async (t) => {
  const s3 = createS3(s3Config('http://127.0.0.1:9'), { connectionTimeoutMs: 500 })
  t.after(() => s3.close())
  await assert.rejects(s3.ensureBucket(), (err: unknown) => err instanceof StorageError && err.code === 'FED_STORAGE_UNAVAILABLE' && err.canRetry)
})
