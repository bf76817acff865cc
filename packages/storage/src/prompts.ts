import { createHash } from 'node:crypto'
import { AUDIO_EXTENSIONS, checkAudio, extensionOf, type AudioInfo, type PromptFormat } from './audio-format.ts'
import { inTransaction, MANIFEST_LOCK_SQL, settingsOf, type StorageContext } from './context.ts'
import { StorageError } from './errors.ts'
import { silentLogger } from './logger.ts'
import { checkPromptName, promptPath } from './prompt-name.ts'
import { convertWithSox } from './sox.ts'

// The prompt library: rows in PostgreSQL (the truth), objects in S3 addressed by content hash.

export interface Prompt {
  name: string
  sha256: string
  size: number
  format: PromptFormat
  /** Path on an instance, relative to the sounds directory (e.g. `federate/poll/intro.wav`). */
  path: string
  s3Key: string
  durationMs: number
  createdAt: Date
  updatedAt: Date
}

export interface PutPromptResult {
  prompt: Prompt
  /** False when the same content was already stored under this name (nothing changed). */
  changed: boolean
  /** True when the object was already in S3 (same content under any name). */
  deduplicated: boolean
  /** Manifest version after the call. */
  version: number
  audio: AudioInfo
}

const CONTENT_TYPES: Record<PromptFormat, string> = {
  wav: 'audio/wav',
  wav16: 'audio/wav',
  gsm: 'audio/x-gsm',
  ulaw: 'audio/basic',
  alaw: 'audio/x-alaw-basic',
  sln: 'audio/L16;rate=8000',
  sln16: 'audio/L16;rate=16000',
}

/** The S3 key of a prompt's content: one object per distinct content and format. */
export function promptObjectKey (sha256: string, format: PromptFormat): string {
  return `prompts/sha256/${sha256}.${format}`
}

interface PromptRow {
  name: string
  sha256: string
  size: number
  format: PromptFormat
  s3_key: string
  duration_ms: number
  created_at: Date
  updated_at: Date
  deleted_at: Date | null
}

function toPrompt (row: PromptRow): Prompt {
  return {
    name: row.name,
    sha256: row.sha256,
    size: row.size,
    format: row.format,
    path: promptPath(row.name, row.format),
    s3Key: row.s3_key,
    durationMs: row.duration_ms,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

/**
 * Splits what a caller gave as a name: `poll/intro.wav` -> name `poll/intro`, extension hint
 * `wav` (only known audio extensions are dropped; anything else is left for the name check).
 */
export function splitPromptName (input: string): { name: string, ext: string } {
  const ext = extensionOf(input)
  if (ext && AUDIO_EXTENSIONS.has(ext) && !input.endsWith('/')) return { name: input.slice(0, -(ext.length + 1)), ext }
  return { name: input, ext: '' }
}

async function currentVersion (ctx: StorageContext): Promise<number> {
  const { rows } = await ctx.pool.query<{ version: number }>('SELECT coalesce(max(version), 0)::int AS version FROM manifest_versions')
  return rows[0]!.version
}

/**
 * Validates and stores a prompt: uploads its content (unless an object with the same hash is
 * there), then in one transaction upserts the row and appends the manifest change(s). Storing
 * the same content again is a no-op that does not bump the manifest version. `filename` (the
 * uploaded file's name) gives the extension of headerless formats; so does an audio extension
 * on `name` itself. `convert` turns audio that is refused into 8 kHz WAV with sox first.
 */
export async function putPrompt (
  ctx: StorageContext,
  nameInput: string,
  data: Buffer,
  options: { filename?: string, convert?: boolean } = {}
): Promise<PutPromptResult> {
  const logger = (ctx.logger ?? silentLogger).child({ module: 'storage' })
  const { name: rawName, ext } = splitPromptName(nameInput)
  const name = checkPromptName(rawName)
  const max = settingsOf(ctx).storageMaxPromptBytes
  if (data.length > max) throw new StorageError('FED_STORAGE_BAD_AUDIO', `${data.length} bytes is larger than the limit of ${max} bytes`)
  const filename = options.filename ?? (ext ? `${name}.${ext}` : '')
  let audio: AudioInfo
  try {
    audio = checkAudio(data, filename)
  } catch (err) {
    if (!options.convert || !(err instanceof StorageError) || err.code !== 'FED_STORAGE_BAD_AUDIO' || data.length === 0) throw err
    // --convert: whatever sox reads becomes 8 kHz mono 16-bit WAV.
    data = await convertWithSox(data, filename)
    audio = checkAudio(data, `${name}.wav`)
    if (data.length > max) throw new StorageError('FED_STORAGE_BAD_AUDIO', `${data.length} bytes after conversion is larger than the limit of ${max} bytes`)
  }
  const sha256 = createHash('sha256').update(data).digest('hex')
  const key = promptObjectKey(sha256, audio.format)

  const existing = await getPromptRow(ctx, name)
  if (existing && !existing.deleted_at && existing.sha256 === sha256 && existing.format === audio.format) {
    return { prompt: toPrompt(existing), changed: false, deduplicated: true, version: await currentVersion(ctx), audio }
  }

  // Content first, row second: a row never points at a missing object. An object whose row
  // never commits is harmless (the next upload of that content reuses it).
  const head = await ctx.s3.head(key)
  const deduplicated = head !== undefined && head.size === data.length
  if (!deduplicated) await ctx.s3.put(key, data, { contentType: CONTENT_TYPES[audio.format] })

  const out = await inTransaction(ctx.pool, async (client) => {
    await client.query(MANIFEST_LOCK_SQL)
    const { rows: [row] } = await client.query<PromptRow>('SELECT * FROM prompts WHERE name = $1 FOR UPDATE', [name])
    if (row && !row.deleted_at && row.sha256 === sha256 && row.format === audio.format) {
      const { rows: [v] } = await client.query<{ version: number }>('SELECT coalesce(max(version), 0)::int AS version FROM manifest_versions')
      return { row, changed: false, version: v!.version }
    }
    if (row && !row.deleted_at && row.format !== audio.format) {
      // A new format is a new path on the instances: the old file goes away.
      await client.query(
        "INSERT INTO manifest_versions (name, path, change) VALUES ($1, $2, 'delete')",
        [name, promptPath(name, row.format)])
    }
    const { rows: [saved] } = await client.query<PromptRow>(
      `INSERT INTO prompts (name, sha256, size, format, s3_key, duration_ms)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (name) DO UPDATE SET sha256 = $2, size = $3, format = $4, s3_key = $5, duration_ms = $6,
         updated_at = now(), deleted_at = NULL
       RETURNING *`,
      [name, sha256, data.length, audio.format, key, audio.durationMs])
    const { rows: [v] } = await client.query<{ version: number }>(
      "INSERT INTO manifest_versions (name, path, change, sha256, size) VALUES ($1, $2, 'put', $3, $4) RETURNING version",
      [name, promptPath(name, audio.format), sha256, data.length])
    return { row: saved!, changed: true, version: v!.version }
  })
  if (out.changed) logger.info({ name, sha256, size: data.length, format: audio.format, version: out.version, deduplicated }, 'prompt stored')
  return { prompt: toPrompt(out.row), changed: out.changed, deduplicated, version: out.version, audio }
}

/**
 * Removes a prompt from the library and from every instance (a manifest `delete`). The S3
 * object stays: other names may share it and instances may be fetching it right now.
 * Throws FED_STORAGE_NOT_FOUND when there is no such prompt.
 */
export async function deletePrompt (ctx: StorageContext, nameInput: string): Promise<{ version: number }> {
  const name = checkPromptName(splitPromptName(nameInput).name)
  const version = await inTransaction(ctx.pool, async (client) => {
    await client.query(MANIFEST_LOCK_SQL)
    const { rows: [row] } = await client.query<PromptRow>(
      'UPDATE prompts SET deleted_at = now(), updated_at = now() WHERE name = $1 AND deleted_at IS NULL RETURNING *', [name])
    if (!row) throw new StorageError('FED_STORAGE_NOT_FOUND', `no prompt named ${JSON.stringify(name)}`)
    const { rows: [v] } = await client.query<{ version: number }>(
      "INSERT INTO manifest_versions (name, path, change) VALUES ($1, $2, 'delete') RETURNING version",
      [name, promptPath(name, row.format)])
    return v!.version
  })
  ;(ctx.logger ?? silentLogger).child({ module: 'storage' }).info({ name, version }, 'prompt deleted')
  return { version }
}

async function getPromptRow (ctx: StorageContext, name: string): Promise<PromptRow | undefined> {
  const { rows } = await ctx.pool.query<PromptRow>('SELECT * FROM prompts WHERE name = $1', [name])
  return rows[0]
}

/** A live prompt by name (an audio extension on the name is ignored), or undefined. */
export async function getPrompt (ctx: StorageContext, nameInput: string): Promise<Prompt | undefined> {
  const row = await getPromptRow(ctx, splitPromptName(nameInput).name)
  return row && !row.deleted_at ? toPrompt(row) : undefined
}

/** Live prompts sorted by name; `prefix` keeps names under a folder (`poll/`). */
export async function listPrompts (ctx: StorageContext, options: { prefix?: string } = {}): Promise<Prompt[]> {
  const prefix = options.prefix ?? ''
  const { rows } = await ctx.pool.query<PromptRow>(
    'SELECT * FROM prompts WHERE deleted_at IS NULL AND starts_with(name, $1) ORDER BY name COLLATE "C"', [prefix])
  return rows.map(toPrompt)
}

/**
 * The names among `names` that are not live prompts, in the order given, once each. Flow
 * publishing calls this to refuse a flow that plays a prompt the instances would not have.
 */
export async function promptExists (ctx: StorageContext, names: readonly string[]): Promise<string[]> {
  const wanted = [...new Set(names)]
  if (wanted.length === 0) return []
  const { rows } = await ctx.pool.query<{ name: string }>(
    'SELECT name FROM prompts WHERE deleted_at IS NULL AND name = ANY($1::text[])', [wanted.map((n) => splitPromptName(n).name)])
  const found = new Set(rows.map((r) => r.name))
  return wanted.filter((n) => !found.has(splitPromptName(n).name))
}

/** A short-lived signed URL to download a live prompt's audio (operators, the dashboard). */
export async function promptDownloadUrl (ctx: StorageContext, nameInput: string): Promise<{ url: string, prompt: Prompt, expiresSec: number }> {
  const prompt = await getPrompt(ctx, nameInput)
  if (!prompt) throw new StorageError('FED_STORAGE_NOT_FOUND', `no prompt named ${JSON.stringify(nameInput)}`)
  const expiresSec = settingsOf(ctx).storageUrlTtlSec
  return { url: await ctx.s3.presignGet(prompt.s3Key, expiresSec), prompt, expiresSec }
}
