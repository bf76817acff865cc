import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises'
import { basename, dirname, join, relative, resolve, sep } from 'node:path'
import { StorageError } from './errors.ts'
import { type Logger, silentLogger } from './logger.ts'
import type { Manifest } from './manifest.ts'
import { checkManifestPath, SOUNDS_PREFIX } from './prompt-name.ts'

// The agent's half of audio sync: make <soundsDir>/federate/ hold exactly what the manifest
// says, downloading only files whose content changed. Files appear under their final name
// only complete and verified (written to a hidden temp file in the same folder, fsynced,
// hash-checked, renamed). An interrupted pass leaves only temp files, named after the
// content they will hold, which the next pass resumes (HTTP Range) or removes.

export interface SyncOptions {
  manifest: Manifest
  /** The Asterisk sounds directory (e.g. /var/lib/asterisk/sounds); files go under its `federate/`. */
  soundsDir: string
  /** Parallel downloads (default 4). */
  concurrency?: number
  /** The fetch to download with (default: global fetch). */
  fetch?: typeof globalThis.fetch
  logger?: Logger
  /** Time for one download, headers to last byte (default 120 s). */
  timeoutMs?: number
  signal?: AbortSignal
  /** Folder every manifest path must be under (default SOUNDS_PREFIX). */
  prefix?: string
}

export interface SyncFailure { path: string, code: string, message: string }

export interface SyncResult {
  /** The manifest version now on disk: report it in heartbeats only when `failed` is empty. */
  version: number
  /** Bytes received over the network in this pass. */
  downloadedBytes: number
  downloaded: string[]
  removed: string[]
  /** Files already holding the right content. */
  skipped: number
  failed: SyncFailure[]
}

interface StateEntry { sha256: string, size: number, mtimeMs: number }
interface SyncState { version?: number, files: Record<string, StateEntry> }

/** The local state file, relative to `<soundsDir>/<prefix>`: path -> sha256 + stat, to skip re-hashing. */
export const SYNC_STATE_FILE = '.federate-sync.json'

/** The temp file a download of `path` with content `sha256` is written to (and resumed from). */
export function partialPath (path: string, sha256: string): string {
  return join(dirname(path), `.${basename(path)}.${sha256.slice(0, 16)}.part`)
}

const PART = /^\..+\.[0-9a-f]{16}\.part$/

async function hashFile (file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

async function statOrUndefined (file: string) {
  try {
    return await stat(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

async function readState (file: string): Promise<SyncState> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as SyncState
    if (parsed && typeof parsed.files === 'object' && parsed.files !== null) {
      return { version: Number.isSafeInteger(parsed.version) ? parsed.version : undefined, files: { ...parsed.files } }
    }
  } catch {
    // Missing or damaged: start empty; files on disk are re-hashed once.
  }
  return { files: {} }
}

async function writeAtomically (file: string, data: string | Buffer): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`
  const fh = await open(tmp, 'w')
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, file)
}

/** Regular files under `dir`, relative to `base`, with forward slashes. */
async function walk (dir: string, base: string): Promise<string[]> {
  let entries
  try {
    entries = await readdir(dir, { withFileTypes: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const out: string[] = []
  for (const e of entries) {
    const full = join(dir, e.name)
    if (e.isDirectory()) out.push(...await walk(full, base))
    else if (e.isFile()) out.push(relative(base, full).split(sep).join('/'))
  }
  return out
}

/** Removes now-empty folders from `dir` up to (not including) `stop`. */
async function pruneDirs (dir: string, stop: string): Promise<void> {
  while (dir.startsWith(stop + sep)) {
    try {
      await rmdir(dir)
    } catch {
      return
    }
    dir = dirname(dir)
  }
}

async function runBounded<T> (items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const workers = Array.from({ length: Math.min(Math.max(1, concurrency), items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!)
  })
  await Promise.all(workers)
}

/**
 * Brings `<soundsDir>/<prefix>/` in line with a manifest (full: exactly its files; delta:
 * its files added or replaced, its `deleted` removed). Never throws for one file's failure:
 * each is reported in `failed` and retried by the next pass. Throws FED_STORAGE_BAD_NAME
 * before any I/O when a path is unsafe (absolute, `..`, outside the prefix).
 */
export async function syncManifest (options: SyncOptions): Promise<SyncResult> {
  // Passes over one folder run one at a time (they share the state file and temp names).
  const key = resolve(options.soundsDir)
  const previous = running.get(key) ?? Promise.resolve()
  const pass = previous.catch(() => {}).then(() => syncPass(options))
  running.set(key, pass)
  try {
    return await pass
  } finally {
    if (running.get(key) === pass) running.delete(key)
  }
}

const running = new Map<string, Promise<SyncResult>>()

/**
 * The manifest version the files under `<soundsDir>/<prefix>` were last completely synced to
 * (undefined when never): after a restart the agent asks for a delta from it instead of the
 * full list.
 */
export async function syncedVersion (soundsDir: string, prefix = SOUNDS_PREFIX): Promise<number | undefined> {
  return (await readState(join(resolve(soundsDir), prefix, SYNC_STATE_FILE))).version
}

async function syncPass (options: SyncOptions): Promise<SyncResult> {
  const { manifest } = options
  const logger = (options.logger ?? silentLogger).child({ module: 'audio-sync' })
  const prefix = options.prefix ?? SOUNDS_PREFIX
  const fetchFn = options.fetch ?? globalThis.fetch
  const timeoutMs = options.timeoutMs ?? 120_000
  const root = resolve(options.soundsDir)
  const home = join(root, prefix)

  // Every path is checked before anything touches the disk.
  for (const f of manifest.files) {
    checkManifestPath(f.path, prefix)
    if (!/^[0-9a-f]{64}$/.test(f.sha256)) throw new StorageError('FED_STORAGE_BAD_NAME', `manifest entry ${f.path} has a malformed sha256`)
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw new StorageError('FED_STORAGE_BAD_NAME', `manifest entry ${f.path} has a malformed size`)
  }
  for (const p of manifest.deleted) checkManifestPath(p, prefix)
  if (new Set(manifest.files.map((f) => f.path)).size !== manifest.files.length) {
    throw new StorageError('FED_STORAGE_BAD_NAME', 'the manifest lists a path twice')
  }
  const onDisk = (path: string): string => {
    const file = resolve(root, path)
    // Belt and braces: the path check already guarantees this.
    if (!file.startsWith(home + sep)) throw new StorageError('FED_STORAGE_BAD_NAME', `manifest path ${path} escapes ${home}`)
    return file
  }

  await mkdir(home, { recursive: true })
  const stateFile = join(home, SYNC_STATE_FILE)
  const state = await readState(stateFile)
  const result: SyncResult = { version: manifest.version, downloadedBytes: 0, downloaded: [], removed: [], skipped: 0, failed: [] }
  const wanted = new Map(manifest.files.map((f) => [f.path, f]))

  // Decide what to download: trust the state file when the file's size and mtime still match it
  // (mtime to the millisecond: tools that copy times, and utimes, round below that).
  const todo: Manifest['files'] = []
  for (const f of manifest.files) {
    const file = onDisk(f.path)
    const st = await statOrUndefined(file)
    const known = state.files[f.path]
    if (st?.isFile() && known && known.sha256 === f.sha256 && known.size === st.size && Math.abs(known.mtimeMs - st.mtimeMs) < 1) {
      result.skipped++
      continue
    }
    if (st?.isFile() && st.size === f.size && await hashFile(file) === f.sha256) {
      state.files[f.path] = { sha256: f.sha256, size: st.size, mtimeMs: st.mtimeMs }
      result.skipped++
      continue
    }
    todo.push(f)
  }

  // Temp files from an earlier pass: keep those a download below resumes, remove the rest.
  const resumable = new Set(todo.map((f) => partialPath(f.path, f.sha256)))
  for (const rel of await walk(home, root)) {
    if (PART.test(basename(rel)) && !resumable.has(rel)) {
      await rm(join(root, rel), { force: true })
      logger.debug({ path: rel }, 'removed a stale partial download')
    }
  }

  const download = async (f: Manifest['files'][number]): Promise<void> => {
    const file = onDisk(f.path)
    const part = onDisk(partialPath(f.path, f.sha256))
    await mkdir(dirname(file), { recursive: true })
    for (let attempt = 0; attempt < 2; attempt++) {
      let have = (await statOrUndefined(part))?.size ?? 0
      if (attempt > 0 || have > f.size) {
        await rm(part, { force: true })
        have = 0
      }
      // A part as long as the file was fully written by a pass that died before the rename.
      if (have < f.size || have === 0) await fetchInto(f.url, part, have, f.size)
      const got = await hashFile(part)
      if (got !== f.sha256) {
        await rm(part, { force: true })
        // Bytes from an earlier pass may be stale (the content was replaced): once more from zero.
        if (have > 0 && attempt === 0) continue
        throw new StorageError('FED_STORAGE_HASH_MISMATCH', `${f.path}: got sha256 ${got}, manifest says ${f.sha256}`)
      }
      await rename(part, file)
      const st = await stat(file)
      state.files[f.path] = { sha256: f.sha256, size: st.size, mtimeMs: st.mtimeMs }
      result.downloaded.push(f.path)
      return
    }
  }

  const fetchInto = async (url: string, part: string, from: number, size: number): Promise<void> => {
    const signals = [AbortSignal.timeout(timeoutMs), ...(options.signal ? [options.signal] : [])]
    let res: Response
    try {
      res = await fetchFn(url, { signal: AbortSignal.any(signals), headers: from > 0 ? { range: `bytes=${from}-` } : {} })
    } catch (err) {
      throw new StorageError('FED_STORAGE_DOWNLOAD_FAILED', (err as Error).message, { cause: err })
    }
    // 206: the server resumed from `from`; 200: it sent everything (start over).
    const resumed = from > 0 && res.status === 206
    if (!res.ok) {
      await res.body?.cancel().catch(() => {})
      throw new StorageError('FED_STORAGE_DOWNLOAD_FAILED', `HTTP ${res.status} ${res.statusText}`.trim())
    }
    const fh = await open(part, resumed ? 'a' : 'w')
    let written = resumed ? from : 0
    try {
      if (res.body) {
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          written += chunk.length
          result.downloadedBytes += chunk.length
          if (written > size) throw new StorageError('FED_STORAGE_DOWNLOAD_FAILED', `more than the ${size} bytes the manifest says`)
          await fh.write(chunk)
        }
      }
      await fh.sync()
    } catch (err) {
      if (err instanceof StorageError) throw err
      throw new StorageError('FED_STORAGE_DOWNLOAD_FAILED', (err as Error).message, { cause: err })
    } finally {
      await fh.close()
    }
    if (written !== size) throw new StorageError('FED_STORAGE_DOWNLOAD_FAILED', `got ${written} of ${size} bytes`)
  }

  await runBounded(todo, options.concurrency ?? 4, async (f) => {
    try {
      await download(f)
    } catch (err) {
      const e = err instanceof StorageError ? err : new StorageError('FED_STORAGE_DOWNLOAD_FAILED', (err as Error).message, { cause: err })
      result.failed.push({ path: f.path, code: e.code, message: e.message })
      delete state.files[f.path]
      logger.warn({ path: f.path, err: e.message }, 'audio download failed')
    }
  })

  // Removals after downloads: a prompt changing format is never missing in between.
  const remove = new Set(manifest.deleted.filter((p) => !wanted.has(p)))
  if (manifest.full) {
    for (const p of Object.keys(state.files)) if (!wanted.has(p)) remove.add(p)
    for (const rel of await walk(home, root)) {
      const name = basename(rel)
      if (!name.startsWith('.') && !wanted.has(rel)) remove.add(rel)
    }
  }
  for (const p of remove) {
    const file = onDisk(p)
    const existed = (await statOrUndefined(file)) !== undefined
    await rm(file, { force: true })
    delete state.files[p]
    if (existed) {
      result.removed.push(p)
      await pruneDirs(dirname(file), home)
    }
  }

  // The version only moves when the pass is complete: a failed file is retried from it.
  const version = result.failed.length === 0 ? manifest.version : state.version
  await writeAtomically(stateFile, JSON.stringify({ version, files: state.files }))
  result.downloaded.sort()
  result.removed.sort()
  logger.info({
    version: manifest.version,
    downloaded: result.downloaded.length,
    downloadedBytes: result.downloadedBytes,
    removed: result.removed.length,
    skipped: result.skipped,
    failed: result.failed.length,
  }, 'audio sync pass done')
  return result
}

/** Forgets the sync state (the next pass re-hashes files and the agent asks for a full manifest). */
export async function resetSyncState (soundsDir: string, prefix = SOUNDS_PREFIX): Promise<void> {
  await rm(join(resolve(soundsDir), prefix, SYNC_STATE_FILE), { force: true })
}
