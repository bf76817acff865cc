import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import S3rver from 's3rver'
import { createPool, migrate, type DbPool } from '@federate/db'
import { createTestDatabase, freePort, suffix } from '@federate/testkit'
import { createS3, type S3Config, type S3Store, type StorageContext, type StorageConfig } from '../src/index.ts'

/** A real S3-compatible server (s3rver) on a free port, in a temp folder; closed and removed by `close()`. */
export async function startS3rver (): Promise<{ endpoint: string, close: () => Promise<void> }> {
  const directory = await mkdtemp(join(tmpdir(), 'fed-s3rver-'))
  const port = await freePort()
  const server = new S3rver({ port, address: '127.0.0.1', silent: true, directory })
  await server.run()
  let closed = false
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async close () {
      if (closed) return
      closed = true
      // Keep-alive sockets (the SDK's, fetch's) would hold close() open.
      server.httpServer?.closeAllConnections()
      await server.close()
      await rm(directory, { recursive: true, force: true })
    },
  }
}

export function s3Config (endpoint: string, bucket = `fed-${suffix()}`): S3Config {
  return {
    s3Endpoint: endpoint,
    s3Region: 'us-east-1',
    s3Bucket: bucket,
    s3AccessKeyId: 'S3RVER',
    s3SecretAccessKey: 'S3RVER',
    s3ForcePathStyle: true,
    s3ChecksumWhenRequired: true,
  }
}

/** A bucket of its own on `endpoint`, created, closed after the test. */
export async function bucketFor (t: TestContext, endpoint: string, config: Partial<S3Config> = {}): Promise<S3Store> {
  const s3 = createS3({ ...s3Config(endpoint), ...config })
  t.after(() => s3.close())
  await s3.ensureBucket()
  return s3
}

/**
 * One migrated database per test file (creating and migrating one per test cost ~2 s here);
 * tests in a file run one at a time and `storageFor` empties the storage tables first.
 */
export async function openTestDatabase (): Promise<{ pool: DbPool, close: () => Promise<void> }> {
  const db = await createTestDatabase('fedstorage')
  await migrate(db.url)
  const pool = createPool(db.url, { max: 4 })
  return {
    pool,
    async close () {
      await pool.close()
      await db.drop()
    },
  }
}

/** Empty storage tables and a bucket of its own: everything the library needs. */
export async function storageFor (t: TestContext, db: { pool: DbPool }, endpoint: string, config: Partial<StorageConfig> = {}): Promise<StorageContext & { s3: S3Store }> {
  await db.pool.query('TRUNCATE prompts, manifest_versions, recordings RESTART IDENTITY')
  const s3 = await bucketFor(t, endpoint)
  return { pool: db.pool, s3, config }
}

/** Every object key (and size) in the bucket. */
export async function objects (s3: S3Store, prefix = ''): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for await (const o of s3.list(prefix)) out[o.key] = o.size
  return out
}

/** All rows of the storage tables, for "nothing changed" assertions. */
export async function tables (ctx: StorageContext): Promise<unknown> {
  const prompts = await ctx.pool.query('SELECT * FROM prompts ORDER BY name')
  const versions = await ctx.pool.query('SELECT * FROM manifest_versions ORDER BY version')
  const recordings = await ctx.pool.query('SELECT * FROM recordings ORDER BY key')
  return { prompts: prompts.rows, versions: versions.rows, recordings: recordings.rows }
}
