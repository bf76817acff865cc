import type { Readable } from 'node:stream'
import {
  S3Client, HeadBucketCommand, CreateBucketCommand, HeadObjectCommand, PutObjectCommand,
  GetObjectCommand, DeleteObjectCommand, ListObjectsV2Command, S3ServiceException,
} from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { StorageError } from './errors.ts'
import { type Logger, silentLogger } from './logger.ts'
import type { S3Config } from './settings.ts'

/** The bucket this project uses, with the few operations the storage manager needs. */
export interface S3Store {
  readonly client: S3Client
  readonly bucket: string
  /** Creates the bucket when it does not exist (idempotent). */
  ensureBucket: () => Promise<void>
  /** Size of an object, or undefined when there is none. */
  head: (key: string) => Promise<{ size: number } | undefined>
  /** Streams need `contentLength` (S3 refuses unsized single-part uploads). */
  put: (key: string, body: Buffer | Readable, options?: { contentType?: string, contentLength?: number }) => Promise<void>
  get: (key: string) => Promise<Buffer>
  delete: (key: string) => Promise<void>
  list: (prefix: string) => AsyncGenerator<{ key: string, size: number, lastModified?: Date }>
  presignGet: (key: string, ttlSec: number) => Promise<string>
  presignPut: (key: string, ttlSec: number) => Promise<string>
  close: () => Promise<void>
}

export interface S3Options {
  logger?: Logger
  /** Time to open a connection (default 3 s). */
  connectionTimeoutMs?: number
  /** Time for a request to answer (default 30 s). */
  requestTimeoutMs?: number
}

function status (err: unknown): number | undefined {
  return err instanceof S3ServiceException ? err.$metadata?.httpStatusCode : undefined
}

function isNotFound (err: unknown): boolean {
  const name = (err as { name?: string } | null)?.name
  return name === 'NotFound' || name === 'NoSuchKey' || name === 'NoSuchBucket' || status(err) === 404
}

/** S3 errors as StorageErrors: 404 -> NOT_FOUND, anything else (network, 5xx, 403) -> UNAVAILABLE. */
export function wrapS3Error (err: unknown, what: string): StorageError {
  if (err instanceof StorageError) return err
  if (isNotFound(err)) return new StorageError('FED_STORAGE_NOT_FOUND', what, { cause: err })
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  return new StorageError('FED_STORAGE_UNAVAILABLE', `${what}: ${detail}`, { cause: err })
}

/**
 * An S3 client for the configured endpoint and bucket. For S3-compatible servers (s3rver,
 * MinIO) `s3ChecksumWhenRequired` must stay on: with the SDK's default checksums a streamed
 * upload to s3rver stored the aws-chunked trailer as 56 extra bytes of the object.
 */
export function createS3 (config: S3Config, options: S3Options = {}): S3Store {
  const logger = (options.logger ?? silentLogger).child({ module: 'storage-s3' })
  const bucket = config.s3Bucket
  const client = new S3Client({
    region: config.s3Region,
    endpoint: config.s3Endpoint === '' ? undefined : config.s3Endpoint,
    forcePathStyle: config.s3ForcePathStyle,
    credentials: config.s3AccessKeyId === ''
      ? undefined
      : { accessKeyId: config.s3AccessKeyId, secretAccessKey: config.s3SecretAccessKey },
    ...(config.s3ChecksumWhenRequired
      ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } as const
      : {}),
    // Nothing waits forever: bounded connect and answer times; the SDK retries (3 attempts).
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? 3_000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
    },
  })
  let closed = false

  const store: S3Store = {
    client,
    bucket,
    async ensureBucket () {
      try {
        await client.send(new HeadBucketCommand({ Bucket: bucket }))
        return
      } catch (err) {
        if (!isNotFound(err)) throw wrapS3Error(err, `checking bucket ${bucket}`)
      }
      try {
        await client.send(new CreateBucketCommand({ Bucket: bucket }))
        logger.info({ bucket }, 'created bucket')
      } catch (err) {
        const name = (err as { name?: string }).name
        if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw wrapS3Error(err, `creating bucket ${bucket}`)
      }
    },
    async head (key) {
      try {
        const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
        return { size: out.ContentLength ?? 0 }
      } catch (err) {
        if (isNotFound(err)) return undefined
        throw wrapS3Error(err, `reading ${key}`)
      }
    },
    async put (key, body, opts = {}) {
      const contentLength = Buffer.isBuffer(body) ? body.length : opts.contentLength
      if (contentLength === undefined) throw new TypeError('put: a stream body needs contentLength')
      try {
        await client.send(new PutObjectCommand({
          Bucket: bucket, Key: key, Body: body, ContentLength: contentLength, ContentType: opts.contentType,
        }))
      } catch (err) {
        throw wrapS3Error(err, `uploading ${key}`)
      }
    },
    async get (key) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
        return Buffer.from(await out.Body!.transformToByteArray())
      } catch (err) {
        throw wrapS3Error(err, `downloading ${key}`)
      }
    },
    async delete (key) {
      try {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))
      } catch (err) {
        throw wrapS3Error(err, `deleting ${key}`)
      }
    },
    async * list (prefix) {
      let token: string | undefined
      do {
        let out
        try {
          out = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }))
        } catch (err) {
          throw wrapS3Error(err, `listing ${prefix}`)
        }
        for (const o of out.Contents ?? []) if (o.Key) yield { key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified }
        token = out.IsTruncated ? out.NextContinuationToken : undefined
      } while (token)
    },
    async presignGet (key, ttlSec) {
      return await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: ttlSec })
    },
    async presignPut (key, ttlSec) {
      return await getSignedUrl(client, new PutObjectCommand({ Bucket: bucket, Key: key }), { expiresIn: ttlSec })
    },
    async close () {
      if (closed) return
      closed = true
      client.destroy()
    },
  }
  return store
}
