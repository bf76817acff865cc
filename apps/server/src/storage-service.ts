import type { Logger } from 'pino'
import { isConnectionError } from '@federate/db'
import { FaultError, type ParamsOf, type ResultOf } from '@federate/protocol'
import {
  StorageError, StorageErrorCodes, createS3, manifest, manifestVersion, promptExists, recordRecording, recordingUploadUrl,
  type S3Config, type StorageConfig, type StorageContext, type StoragePool,
} from '@federate/storage'
import type { StorageService } from './rpc/services.ts'

/** The storage manager as the app tier uses it: the XML-RPC side, the REST routes' context, the flow publisher's check. */
export interface ServerStorage extends StorageService {
  /** The library's context (pool, S3, settings), for the REST routes. */
  context: StorageContext
  /** Prompt names among `names` that are not in the library (flow publishing refuses those). */
  missingPrompts: (names: string[]) => Promise<string[]>
  /** Drops the cached manifest version (after this server changed the library). */
  invalidate: () => void
}

/**
 * A storage error as the XML-RPC fault an agent branches on: bad names or audio are the
 * caller's (INVALID_PARAMS), unknown keys NOT_FOUND (1401), S3 or PostgreSQL being down
 * UNAVAILABLE (1302, retryable). Anything else is returned as is (an internal error).
 */
export function storageFault (err: unknown): unknown {
  if (err instanceof FaultError) return err
  if (err instanceof StorageError) {
    switch (err.code) {
      case 'FED_STORAGE_BAD_NAME':
      case 'FED_STORAGE_BAD_AUDIO':
        return new FaultError('INVALID_PARAMS', err.message, { cause: err })
      case 'FED_STORAGE_NOT_FOUND':
        return new FaultError('NOT_FOUND', err.message, { cause: err })
      case 'FED_STORAGE_UNAVAILABLE':
        return new FaultError('UNAVAILABLE', err.message, { cause: err })
      default:
        return err
    }
  }
  if (isConnectionError(err)) return new FaultError('UNAVAILABLE', 'the database is unavailable', { cause: err })
  return err
}

async function faulting<T> (fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw storageFault(err)
  }
}

/**
 * The StorageService the XML-RPC handlers call, over the storage library. Every heartbeat asks
 * for the manifest version, so it is read at most once per `versionCacheMs` (default 1 s) per
 * process, with concurrent askers sharing one query; a change made elsewhere reaches the
 * heartbeats within that time.
 */
export function createStorageService (ctx: StorageContext, options: { versionCacheMs?: number } = {}): ServerStorage {
  const ttl = options.versionCacheMs ?? 1_000
  let cached: { version: number, at: number } | undefined
  let inFlight: Promise<number> | undefined
  let generation = 0

  async function readVersion (): Promise<number> {
    const gen = generation
    try {
      const version = await manifestVersion(ctx)
      if (gen === generation) cached = { version, at: Date.now() }
      return version
    } finally {
      if (gen === generation) inFlight = undefined
    }
  }

  return {
    context: ctx,

    async currentVersion () {
      if (cached !== undefined && Date.now() - cached.at < ttl) return cached.version
      inFlight ??= readVersion()
      return await faulting(async () => await inFlight!)
    },

    async manifest (since) {
      return await faulting(async () => await manifest(ctx, since))
    },

    async recordingUpload (p: ParamsOf<'recording.upload'>): Promise<ResultOf<'recording.upload'>> {
      return await faulting(async () => {
        const upload = await recordingUploadUrl(ctx, { instanceId: p.instanceId, callId: p.callId, file: p.file, node: p.node })
        // Registered now, tied to its call and flow node; the size is filled in when known.
        await recordRecording(ctx, { key: upload.key, callId: p.callId, instanceId: p.instanceId, node: p.node, size: p.size })
        return upload
      })
    },

    async missingPrompts (names) {
      return await promptExists(ctx, names)
    },

    invalidate () {
      generation++
      cached = undefined
      inFlight = undefined
    },
  }
}

/**
 * Opens the storage manager for `federate serve`: an S3 client whose bucket must answer now
 * (created when missing), so a wrong S3_ENDPOINT stops the server at start with a clear error
 * instead of failing every upload later. close() releases the S3 client (not the pool).
 */
export async function openStorage (
  config: S3Config & StorageConfig,
  pool: StoragePool,
  logger: Logger
): Promise<ServerStorage & { close: () => Promise<void> }> {
  const s3 = createS3(config, { logger })
  try {
    await s3.ensureBucket()
  } catch (err) {
    await s3.close()
    const where = config.s3Endpoint === '' ? `AWS S3 in ${config.s3Region} (S3_REGION)` : `${config.s3Endpoint} (S3_ENDPOINT)`
    // The inner error's own detail (its message starts with the same "unavailable" text).
    const prefix = err instanceof StorageError ? `${StorageErrorCodes[err.code].text}: ` : ''
    const detail = err instanceof Error ? (err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message) : String(err)
    throw new StorageError('FED_STORAGE_UNAVAILABLE',
      `cannot use bucket ${config.s3Bucket} (S3_BUCKET) at ${where}: ${detail}. ` +
      'Start a local S3 with `federate services up`, or set FEDERATE_STORAGE=false to serve without prompts and recordings',
      { cause: err })
  }
  const service = createStorageService({
    pool,
    s3,
    config: { storageUrlTtlSec: config.storageUrlTtlSec, recordingUrlTtlSec: config.recordingUrlTtlSec, storageMaxPromptBytes: config.storageMaxPromptBytes },
    logger,
  })
  return { ...service, close: async () => { await s3.close() } }
}
