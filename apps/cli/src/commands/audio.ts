import { readFile, readdir, stat } from 'node:fs/promises'
import { basename, extname, join, relative, sep } from 'node:path'
import type { Command } from 'commander'
import { loadConfig, s3Settings, type ConfigOf } from '@federate/config'
import type { DbPool } from '@federate/db'
import type { S3Store, StorageContext, StorageErrorCode, storageSettings } from '@federate/storage'
import { withDatabase } from '../db-context.ts'
import { CliError, EXIT, print } from '../output.ts'

// `federate audio`: the prompt library, straight to PostgreSQL and S3 with @federate/storage
// (like `flows push`), so it works without an app server running. The library (and the AWS
// SDK behind it) is loaded only when an audio command runs: every `federate` start stays fast.

const storageLib = async () => await import('@federate/storage')

type StorageSettings = ConfigOf<typeof storageSettings>

function s3Where (config: StorageSettings): string {
  return config.s3Endpoint === '' ? `AWS S3 in ${config.s3Region} (S3_REGION)` : `${config.s3Endpoint} (S3_ENDPOINT)`
}

/** Runs `fn` with a storage context (database + S3); S3 is probed first when `probe` is set. */
async function withStorage<T> (fn: (ctx: StorageContext & { s3: S3Store }, config: StorageSettings) => Promise<T>, probe = false): Promise<T> {
  const { createS3, storageSettings } = await storageLib()
  const config = loadConfig(storageSettings)
  const s3 = createS3(config)
  try {
    if (probe) {
      try {
        await s3.ensureBucket()
      } catch (err) {
        throw new CliError(`cannot reach S3 at ${s3Where(config)}, bucket ${config.s3Bucket} (S3_BUCKET): ${(err as Error).message}; ` +
          'start it with `federate services up`', EXIT.UNAVAILABLE, { cause: err })
      }
    }
    return await withDatabase(async (pool) => await fn({ pool, s3, config }, config))
  } finally {
    await s3.close()
  }
}

/** One file to upload and the prompt name it becomes. */
interface Candidate { file: string, name: string }

export interface UploadResult {
  file: string
  name: string
  status: 'uploaded' | 'unchanged' | 'refused'
  format?: string
  sha256?: string
  size?: number
  durationMs?: number
  code?: string
  reason?: string
}

/** Every regular file under `dir` (hidden files and folders skipped), sorted for a stable order. */
async function walk (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...await walk(path))
    else if (entry.isFile()) out.push(path)
  }
  return out.sort()
}

/** `poll/intro.wav` -> `poll/intro`: the path relative to the folder, without its extension. */
function nameFromPath (path: string): string {
  const noExt = path.slice(0, path.length - extname(path).length)
  return noExt.split(sep).join('/')
}

async function candidates (input: string, as: string | undefined): Promise<Candidate[]> {
  let info
  try {
    info = await stat(input)
  } catch (err) {
    throw new CliError(`cannot read ${input}: ${(err as Error).message}`, EXIT.USAGE)
  }
  if (info.isDirectory()) {
    if (as !== undefined) throw new CliError('--as names a single file; a folder\'s prompts are named by their paths in it', EXIT.USAGE)
    const files = await walk(input)
    if (files.length === 0) throw new CliError(`${input} holds no files`, EXIT.USAGE)
    return files.map((file) => ({ file, name: nameFromPath(relative(input, file)) }))
  }
  return [{ file: input, name: as ?? nameFromPath(basename(input)) }]
}

function human (bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

// Refusals are per file (the others still load); S3 or the database going away stops the run.
const PER_FILE = new Set<StorageErrorCode>(['FED_STORAGE_BAD_AUDIO', 'FED_STORAGE_BAD_NAME', 'FED_STORAGE_SOX_MISSING', 'FED_STORAGE_CONVERT_FAILED'])

async function uploadOne (ctx: StorageContext, c: Candidate, maxBytes: number, convert: boolean): Promise<UploadResult> {
  const { StorageError, putPrompt } = await storageLib()
  const refused = (code: string, reason: string): UploadResult => ({ file: c.file, name: c.name, status: 'refused', code, reason })
  const size = (await stat(c.file)).size
  // Larger than the limit: refused without reading it (unless sox may shrink it).
  if (size > maxBytes && !convert) return refused('FED_STORAGE_BAD_AUDIO', `${size} bytes is larger than the limit of ${maxBytes} bytes (STORAGE_MAX_PROMPT_BYTES)`)
  try {
    const out = await putPrompt(ctx, c.name, await readFile(c.file), { filename: basename(c.file), convert })
    return {
      file: c.file,
      name: out.prompt.name,
      status: out.changed ? 'uploaded' : 'unchanged',
      format: out.prompt.format,
      sha256: out.prompt.sha256,
      size: out.prompt.size,
      durationMs: out.prompt.durationMs,
    }
  } catch (err) {
    if (err instanceof StorageError && PER_FILE.has(err.code)) return refused(err.code, err.message)
    if (err instanceof StorageError && err.code === 'FED_STORAGE_UNAVAILABLE') {
      throw new CliError(`S3 failed while uploading ${c.file}: ${err.message}`, EXIT.UNAVAILABLE, { cause: err })
    }
    throw err
  }
}

function line (r: UploadResult): string {
  if (r.status === 'refused') return `refused    ${r.file}: ${r.reason}`
  return `${r.status.padEnd(10)} ${r.name}  (${r.format}, ${((r.durationMs ?? 0) / 1000).toFixed(1)} s, ${human(r.size ?? 0)})`
}

/**
 * Whether `flows push` can check prompts, and how: a function when the prompt library is in
 * use (FEDERATE_STORAGE on and its tables migrated), else a sentence saying why it is not.
 */
export async function promptCheckFor (pool: DbPool): Promise<{ missingPrompts?: (names: string[]) => Promise<string[]>, skipped?: string }> {
  const { serverSettings } = await import('@federate/server')
  const { storageEnabled } = loadConfig({ storageEnabled: serverSettings.storageEnabled })
  if (!storageEnabled) return { skipped: 'FEDERATE_STORAGE is off' }
  const { rows } = await pool.query<{ t: string | null }>("SELECT to_regclass('prompts')::text AS t")
  if (rows[0]?.t == null) return { skipped: 'the database has no prompt library yet (run `federate migrate`)' }
  return {
    // PostgreSQL is the library's truth: checking names sends nothing to S3 (the client only
    // completes the context; creating one opens no connection).
    missingPrompts: async (names) => {
      const { createS3, promptExists } = await storageLib()
      const s3 = createS3(loadConfig(s3Settings))
      try {
        return await promptExists({ pool, s3 }, names)
      } finally {
        await s3.close()
      }
    },
  }
}

export function register (program: Command): void {
  const cmd = program.command('audio').description('the prompt library: upload, list and delete prompts (PostgreSQL + S3)')
    .addHelpText('after', `
Prompts are named by relative paths (poll/intro); flows play them by name. Accepted:
WAV PCM 8 or 16 kHz mono 16-bit, or headerless .gsm, .ulaw, .alaw, .sln, .sln16 (docs/storage.md).

Examples:
  $ federate audio upload prompts/               every file, named by its path (poll/intro.wav -> poll/intro)
  $ federate audio upload greeting.wav --as ivr/welcome
  $ federate audio upload music.mp3 --as hold --convert      converts with sox (apt-get install sox)
  $ federate audio list --prefix poll/
  $ federate audio delete poll/old-question`)

  cmd.command('upload <path>')
    .description('upload a file or every file under a folder; exit 2 when any file was refused (the others still load)')
    .option('--as <name>', 'prompt name for a single file (default: its name without extension)')
    .option('--convert', 'convert audio that is not accepted as-is to 8 kHz mono WAV with sox')
    .option('--json', 'print as JSON')
    .action(async (input: string, opts: { as?: string, convert?: boolean, json?: boolean }) => {
      const list = await candidates(input, opts.as)
      const cliProgress = (await import('cli-progress')).default
      const results = await withStorage(async (ctx, config) => {
        const bar = list.length > 1 && !opts.json
          ? new cliProgress.SingleBar({ format: 'uploading [{bar}] {value}/{total} {name}', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
          : undefined
        bar?.start(list.length, 0, { name: '' })
        const out: UploadResult[] = []
        try {
          for (const c of list) {
            bar?.update(out.length, { name: c.name })
            out.push(await uploadOne(ctx, c, config.storageMaxPromptBytes, opts.convert ?? false))
          }
          bar?.update(out.length, { name: '' })
        } finally {
          bar?.stop()
        }
        return out
      }, true)
      const count = (s: UploadResult['status']) => results.filter((r) => r.status === s).length
      const summary = { uploaded: count('uploaded'), unchanged: count('unchanged'), refused: count('refused') }
      print(opts.json, { results, ...summary }, () => [
        ...results.map(line),
        `${results.length} file${results.length === 1 ? '' : 's'}: ${summary.uploaded} uploaded, ${summary.unchanged} unchanged, ${summary.refused} refused`,
      ].join('\n'))
      if (summary.refused > 0) process.exitCode = EXIT.USAGE
    })

  cmd.command('list')
    .description('prompts in the library, sorted by name')
    .option('--prefix <folder>', 'only names under this folder, e.g. poll/')
    .option('--json', 'print as JSON')
    .action(async (opts: { prefix?: string, json?: boolean }) => {
      const { listPrompts } = await storageLib()
      const prompts = await withStorage(async (ctx) => await listPrompts(ctx, { prefix: opts.prefix }))
      print(opts.json, prompts, () => prompts.length === 0
        ? 'no prompts yet: federate audio upload <file|folder>'
        : prompts.map((p) => `${p.name.padEnd(32)} ${p.format.padEnd(6)} ${(p.durationMs / 1000).toFixed(1).padStart(6)} s  ${human(p.size).padStart(10)}  ${p.sha256.slice(0, 12)}`).join('\n'))
    })

  cmd.command('delete <name>')
    .description('delete a prompt; instances remove it on their next sync')
    .option('--json', 'print as JSON')
    .action(async (name: string, opts: { json?: boolean }) => {
      const { StorageError, deletePrompt } = await storageLib()
      try {
        const out = await withStorage(async (ctx) => await deletePrompt(ctx, name))
        print(opts.json, { name, ...out }, () => `deleted ${name} (manifest version ${out.version})`)
      } catch (err) {
        if (err instanceof StorageError && (err.code === 'FED_STORAGE_NOT_FOUND' || err.code === 'FED_STORAGE_BAD_NAME')) {
          throw new CliError(err.message, EXIT.USAGE, { cause: err })
        }
        throw err
      }
    })
}
