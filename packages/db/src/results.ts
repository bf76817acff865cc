import { DbError } from './errors.ts'
import { checkId } from './ids.ts'
import type { Queryable } from './pool.ts'

/** One answer a call produced: e.g. node `q1`, key `digits`, value `3`. */
export interface CallResult {
  callId: string
  node: string
  key: string
  value: string
}

/** Throws FED_DB_INVALID_INPUT for a record the table would refuse. */
export function checkResult (r: CallResult): void {
  checkId(r?.callId, 'callId')
  for (const [field, max] of [['node', 128], ['key', 128], ['value', 4096]] as const) {
    const v = r[field]
    // PostgreSQL text cannot hold NUL: refuse it here rather than fail a whole batch later.
    if (typeof v !== 'string' || v.length > max || (field !== 'value' && v.length === 0) || v.includes('\u0000')) {
      throw new DbError('FED_DB_INVALID_INPUT', `${field} must be a string of ${field === 'value' ? 0 : 1} to ${max} characters`)
    }
  }
}

/**
 * Stores results; a (callId, node, key) already stored is kept as it was, so a resent batch is
 * harmless. Returns how many rows were new.
 */
export async function insertMany (db: Queryable, records: CallResult[]): Promise<number> {
  records.forEach(checkResult)
  if (records.length === 0) return 0
  const { rowCount } = await db.query(
    `INSERT INTO call_results (call_id, node, key, value)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
     ON CONFLICT (call_id, node, key) DO NOTHING`,
    [records.map((r) => r.callId), records.map((r) => r.node), records.map((r) => r.key), records.map((r) => r.value)])
  return rowCount ?? 0
}

/** A call's results in the order they were stored. */
export async function listForCall (db: Queryable, callId: string): Promise<Array<CallResult & { createdAt: Date }>> {
  const { rows } = await db.query<{ call_id: string, node: string, key: string, value: string, created_at: Date }>(
    'SELECT * FROM call_results WHERE call_id = $1 ORDER BY created_at, node, key', [callId])
  return rows.map((r) => ({ callId: r.call_id, node: r.node, key: r.key, value: r.value, createdAt: r.created_at }))
}
