import type { ResultOf } from '@federate/protocol'
import type { PromptFormat } from './audio-format.ts'
import { settingsOf, type StorageContext } from './context.ts'
import { promptObjectKey } from './prompts.ts'
import { promptPath } from './prompt-name.ts'

// The audio manifest an instance syncs from (`storage.manifest`). Full when an instance joins
// (or asks from a version the log cannot answer), a delta of changed paths otherwise, so
// audio crosses the network once (DESIGN rule 3).

export type Manifest = ResultOf<'storage.manifest'>
export type ManifestEntry = Manifest['files'][number]

interface Row {
  version: number
  path: string | null
  change: 'put' | 'delete' | null
  sha256: string | null
  size: number | null
}

function formatOfPath (path: string): PromptFormat {
  return path.slice(path.lastIndexOf('.') + 1) as PromptFormat
}

/**
 * The manifest at the current version. Without `since` (or with a `since` ahead of the log,
 * e.g. after a database restore) the full list; otherwise only paths changed after `since`
 * (a path put then deleted is a delete, deleted then put is a put). Each file has a signed GET
 * URL valid for `storageUrlTtlSec`.
 */
export async function manifest (ctx: StorageContext, since?: number): Promise<Manifest> {
  const ttl = settingsOf(ctx).storageUrlTtlSec
  const sign = async (path: string, sha256: string, size: number): Promise<ManifestEntry> =>
    ({ path, sha256, size, url: await ctx.s3.presignGet(promptObjectKey(sha256, formatOfPath(path)), ttl) })

  if (since !== undefined) {
    // One statement, one snapshot: the version and the changes agree.
    const { rows } = await ctx.pool.query<Row>(
      `WITH v AS (
         SELECT coalesce(max(version), 0)::int AS version FROM manifest_versions),
       ch AS (
         SELECT DISTINCT ON (path) path, change, sha256, size
         FROM manifest_versions WHERE version > $1 ORDER BY path, version DESC)
       SELECT v.version, ch.* FROM v LEFT JOIN ch ON true ORDER BY ch.path`, [since])
    const head = rows[0]!
    const changes = rows.filter((r) => r.path !== null)
    if (since <= head.version) {
      const files: ManifestEntry[] = []
      const deleted: string[] = []
      for (const r of changes) {
        if (r.change === 'put') files.push(await sign(r.path!, r.sha256!, r.size!))
        else deleted.push(r.path!)
      }
      return { version: head.version, full: false, files, deleted }
    }
  }

  const { rows } = await ctx.pool.query<{ version: number, name: string | null, format: PromptFormat, sha256: string, size: number }>(
    `WITH v AS (SELECT coalesce(max(version), 0)::int AS version FROM manifest_versions)
     SELECT v.version, p.name, p.format, p.sha256, p.size
     FROM v LEFT JOIN prompts p ON p.deleted_at IS NULL ORDER BY p.name COLLATE "C"`)
  const files = await Promise.all(rows.filter((r) => r.name !== null)
    .map((r) => sign(promptPath(r.name!, r.format), r.sha256, r.size)))
  return { version: rows[0]!.version, full: true, files, deleted: [] }
}

/** The current manifest version (what heartbeats compare with an instance's). */
export async function manifestVersion (ctx: StorageContext): Promise<number> {
  const { rows } = await ctx.pool.query<{ version: number }>('SELECT coalesce(max(version), 0)::int AS version FROM manifest_versions')
  return rows[0]!.version
}
