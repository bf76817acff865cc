import { settingsOf, type StorageContext } from './context.ts'
import { StorageError } from './errors.ts'

// Call recordings: the instance uploads straight to S3 with a signed PUT URL (the app tier
// never carries the audio), then the recording is registered against its call.

const ID = /^[A-Za-z0-9_.:-]{1,128}$/
const FILE = /^[A-Za-z0-9_.-]{1,160}$/

export interface Recording {
  key: string
  callId: string
  instanceId: string | null
  node: string | null
  /** Bytes, or null when the object was not uploaded yet when it was registered. */
  size: number | null
  createdAt: Date
}

function checkId (what: string, value: string): string {
  if (typeof value !== 'string' || !ID.test(value) || value === '.' || value === '..') {
    throw new StorageError('FED_STORAGE_BAD_NAME', `${what} ${JSON.stringify(value)} must match ${ID.source} (and not be . or ..)`)
  }
  return value
}

function checkFile (file: string): string {
  if (typeof file !== 'string' || !FILE.test(file) || file.startsWith('.')) {
    throw new StorageError('FED_STORAGE_BAD_NAME', `recording file ${JSON.stringify(file)} must match ${FILE.source} and not start with .`)
  }
  return file
}

/** recordings/<yyyy>/<mm>/<dd>/<callId>/<file>, dated in UTC. */
export function recordingKey (callId: string, file: string, at = new Date()): string {
  const d = at.toISOString()
  return `recordings/${d.slice(0, 4)}/${d.slice(5, 7)}/${d.slice(8, 10)}/${checkId('call id', callId)}/${checkFile(file)}`
}

/**
 * A signed PUT URL for one recording of a call (`recording.upload`). `file` defaults to
 * `<node or "recording">.wav`. Valid for `recordingUrlTtlSec`.
 */
export async function recordingUploadUrl (
  ctx: StorageContext,
  args: { instanceId: string, callId: string, file?: string, node?: string }
): Promise<{ url: string, key: string, expiresSec: number }> {
  checkId('instance id', args.instanceId)
  const file = args.file ?? `${args.node && FILE.test(args.node) ? args.node : 'recording'}.wav`
  const key = recordingKey(args.callId, file)
  const expiresSec = settingsOf(ctx).recordingUrlTtlSec
  return { url: await ctx.s3.presignPut(key, expiresSec), key, expiresSec }
}

interface RecordingRow {
  key: string
  call_id: string
  instance_id: string | null
  node: string | null
  size: string | null
  created_at: Date
}

function toRecording (r: RecordingRow): Recording {
  return {
    key: r.key,
    callId: r.call_id,
    instanceId: r.instance_id,
    node: r.node,
    size: r.size === null ? null : Number(r.size),
    createdAt: r.created_at,
  }
}

/**
 * Registers an uploaded recording (idempotent by key: a resend updates the size). Without
 * `size`, the object's size is read from S3 (null when it is not there yet).
 */
export async function recordRecording (
  ctx: StorageContext,
  args: { key: string, callId: string, instanceId?: string, node?: string, size?: number }
): Promise<Recording> {
  checkId('call id', args.callId)
  if (!args.key.startsWith('recordings/') || !args.key.split('/').includes(args.callId)) {
    throw new StorageError('FED_STORAGE_BAD_NAME', `recording key ${JSON.stringify(args.key)} is not a recording of call ${args.callId}`)
  }
  const size = args.size ?? (await ctx.s3.head(args.key))?.size ?? null
  const { rows: [row] } = await ctx.pool.query<RecordingRow>(
    `INSERT INTO recordings (key, call_id, instance_id, node, size) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (key) DO UPDATE SET size = coalesce(EXCLUDED.size, recordings.size)
     RETURNING *`,
    [args.key, args.callId, args.instanceId ?? null, args.node ?? null, size])
  return toRecording(row!)
}

/** Recordings, newest first; of one call when `callId` is given. */
export async function listRecordings (ctx: StorageContext, options: { callId?: string, limit?: number } = {}): Promise<Recording[]> {
  const limit = Math.min(Math.max(options.limit ?? 100, 1), 10_000)
  const { rows } = options.callId === undefined
    ? await ctx.pool.query<RecordingRow>('SELECT * FROM recordings ORDER BY created_at DESC, key LIMIT $1', [limit])
    : await ctx.pool.query<RecordingRow>('SELECT * FROM recordings WHERE call_id = $1 ORDER BY created_at DESC, key LIMIT $2', [options.callId, limit])
  return rows.map(toRecording)
}

/** A short-lived signed GET URL for a registered recording; FED_STORAGE_NOT_FOUND otherwise. */
export async function recordingDownloadUrl (ctx: StorageContext, key: string): Promise<{ url: string, expiresSec: number }> {
  const { rows } = await ctx.pool.query<{ key: string }>('SELECT key FROM recordings WHERE key = $1', [key])
  if (rows.length === 0) throw new StorageError('FED_STORAGE_NOT_FOUND', `no recording ${JSON.stringify(key)}`)
  const expiresSec = settingsOf(ctx).storageUrlTtlSec
  return { url: await ctx.s3.presignGet(key, expiresSec), expiresSec }
}
