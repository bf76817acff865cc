import { DbError, sqlState } from './errors.ts'
import { checkId, checkInt } from './ids.ts'
import type { Queryable } from './pool.ts'

// Dialled numbers (DIDs, extensions): digits, +, *, #, and the id characters.
const NUMBER_PATTERN = /^[A-Za-z0-9+*#_.:-]{1,64}$/

export interface Route {
  flowId: string
  /** null: always the flow's latest version. */
  version: number | null
}

export interface NumberBinding extends Route {
  number: string
  updatedAt: Date
}

function checkNumber (number: unknown): asserts number is string {
  if (typeof number !== 'string' || !NUMBER_PATTERN.test(number)) {
    throw new DbError('FED_DB_INVALID_INPUT', `number must match ${NUMBER_PATTERN.source} (got ${JSON.stringify(number)?.slice(0, 80)})`)
  }
}

/**
 * Points `number` at a flow: a pinned version, or null for "always the latest". Replaces any
 * earlier binding. Throws FED_DB_NOT_FOUND when the flow (or the pinned version) does not exist.
 */
export async function bind (db: Queryable, number: string, flowId: string, version: number | null): Promise<NumberBinding> {
  checkNumber(number)
  checkId(flowId, 'flow id')
  if (version !== null) checkInt(version, 'version', 1)
  try {
    const { rows } = await db.query<{ number: string, flow_id: string, flow_version: number | null, updated_at: Date }>(
      `INSERT INTO numbers (number, flow_id, flow_version) VALUES ($1, $2, $3)
       ON CONFLICT (number) DO UPDATE SET flow_id = EXCLUDED.flow_id, flow_version = EXCLUDED.flow_version, updated_at = now()
       RETURNING *`, [number, flowId, version])
    const r = rows[0]!
    return { number: r.number, flowId: r.flow_id, version: r.flow_version, updatedAt: r.updated_at }
  } catch (err) {
    if (sqlState(err) === '23503') {
      throw new DbError('FED_DB_NOT_FOUND', version === null ? `flow ${flowId}` : `flow ${flowId} version ${version}`, { cause: err })
    }
    throw err
  }
}

/** Removes a binding; true when there was one. */
export async function unbind (db: Queryable, number: string): Promise<boolean> {
  checkNumber(number)
  const { rowCount } = await db.query('DELETE FROM numbers WHERE number = $1', [number])
  return (rowCount ?? 0) > 0
}

/** Where a dialled number routes, or null when nothing is bound to it (or it is not a valid number). */
export async function resolve (db: Queryable, number: string): Promise<Route | null> {
  if (typeof number !== 'string' || !NUMBER_PATTERN.test(number)) return null
  const { rows } = await db.query<{ flow_id: string, flow_version: number | null }>(
    'SELECT flow_id, flow_version FROM numbers WHERE number = $1', [number])
  return rows[0] ? { flowId: rows[0].flow_id, version: rows[0].flow_version } : null
}

/** Every binding, by number. */
export async function list (db: Queryable): Promise<NumberBinding[]> {
  const { rows } = await db.query<{ number: string, flow_id: string, flow_version: number | null, updated_at: Date }>(
    'SELECT * FROM numbers ORDER BY number')
  return rows.map((r) => ({ number: r.number, flowId: r.flow_id, version: r.flow_version, updatedAt: r.updated_at }))
}
