import type { StorageContext } from './context.ts'
import { silentLogger } from './logger.ts'

// Prompt objects are never deleted with their prompt (other names may share the content, and
// instances may be downloading it). This sweeps the ones nothing has pointed at for a while.

/**
 * Deletes prompt objects (prompts/sha256/...) that no live prompt uses and that no manifest
 * change of the last `graceSec` (default one day) named, once they are older than `graceSec`
 * (an upload whose row has not committed yet is young). Returns the deleted keys.
 */
export async function collectGarbage (ctx: StorageContext, options: { graceSec?: number, dryRun?: boolean } = {}): Promise<string[]> {
  const graceSec = options.graceSec ?? 86_400
  const { rows } = await ctx.pool.query<{ key: string }>(
    `SELECT s3_key AS key FROM prompts WHERE deleted_at IS NULL
     UNION
     SELECT 'prompts/sha256/' || sha256 || '.' || substring(path from '[^.]+$') FROM manifest_versions
     WHERE change = 'put' AND created_at > now() - make_interval(secs => $1)`, [graceSec])
  const keep = new Set(rows.map((r) => r.key))
  const cutoff = Date.now() - graceSec * 1000
  const deleted: string[] = []
  for await (const o of ctx.s3.list('prompts/sha256/')) {
    if (keep.has(o.key) || (o.lastModified?.getTime() ?? Date.now()) > cutoff) continue
    if (!options.dryRun) await ctx.s3.delete(o.key)
    deleted.push(o.key)
  }
  if (deleted.length) (ctx.logger ?? silentLogger).child({ module: 'storage' }).info({ count: deleted.length, dryRun: !!options.dryRun }, 'unused prompt objects removed')
  return deleted
}
