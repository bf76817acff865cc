import { DbError, sqlState } from './errors.ts'
import { checkId, checkInt } from './ids.ts'
import { jsonSha256 } from './canonical-json.ts'
import type { Queryable } from './pool.ts'

export interface Flow {
  id: string
  name: string
  /** 0 until the first version is published. */
  latestVersion: number
  createdAt: Date
}

export interface FlowVersion<D = unknown> {
  flowId: string
  version: number
  definition: D
  /** sha256 hex of the definition's canonical JSON (sorted keys). */
  sha256: string
  createdAt: Date
}

interface FlowRow { id: string, name: string, latest_version: number, created_at: Date }
interface VersionRow { flow_id: string, version: number, definition: unknown, sha256: string, created_at: Date }

const toFlow = (r: FlowRow): Flow => ({ id: r.id, name: r.name, latestVersion: r.latest_version, createdAt: r.created_at })
const toVersion = <D>(r: VersionRow): FlowVersion<D> =>
  ({ flowId: r.flow_id, version: r.version, definition: r.definition as D, sha256: r.sha256, createdAt: r.created_at })

/** Creates the flow if it does not exist; returns it either way (`created` tells which). */
export async function createOrGetFlow (db: Queryable, id: string, name: string): Promise<Flow & { created: boolean }> {
  checkId(id, 'flow id')
  if (typeof name !== 'string' || name.length < 1 || name.length > 256) {
    throw new DbError('FED_DB_INVALID_INPUT', 'flow name must be 1 to 256 characters')
  }
  const inserted = await db.query<FlowRow>(
    'INSERT INTO flows (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING *', [id, name])
  if (inserted.rows[0]) return { ...toFlow(inserted.rows[0]), created: true }
  const { rows } = await db.query<FlowRow>('SELECT * FROM flows WHERE id = $1', [id])
  // The row existed a moment ago and flows are never deleted.
  return { ...toFlow(rows[0]!), created: false }
}

/**
 * Stores `definition` as the flow's next version and returns it. One statement: the flow row's
 * lock orders concurrent publishes, so each gets its own number. Versions are immutable.
 * Throws FED_DB_NOT_FOUND for an unknown flow.
 */
export async function publishVersion<D> (db: Queryable, flowId: string, definition: D): Promise<FlowVersion<D>> {
  checkId(flowId, 'flow id')
  if (definition === null || typeof definition !== 'object') {
    throw new DbError('FED_DB_INVALID_INPUT', 'a flow definition must be a JSON object or array')
  }
  const sha256 = jsonSha256(definition)
  let rows: VersionRow[]
  try {
    ({ rows } = await db.query<VersionRow>(
      `WITH bumped AS (
         UPDATE flows SET latest_version = latest_version + 1 WHERE id = $1 RETURNING id, latest_version
       )
       INSERT INTO flow_versions (flow_id, version, definition, sha256)
       SELECT id, latest_version, $2, $3 FROM bumped
       RETURNING *`,
      [flowId, JSON.stringify(definition), sha256]))
  } catch (err) {
    if (sqlState(err) === '22P02' || sqlState(err) === '22023') throw new DbError('FED_DB_INVALID_INPUT', 'definition is not valid JSON', { cause: err })
    throw err
  }
  if (!rows[0]) throw new DbError('FED_DB_NOT_FOUND', `flow ${flowId}`)
  return toVersion<D>(rows[0])
}

/** One version of a flow, or null when the flow or the version does not exist. */
export async function getVersion<D = unknown> (db: Queryable, flowId: string, version: number): Promise<FlowVersion<D> | null> {
  checkId(flowId, 'flow id')
  checkInt(version, 'version', 1)
  const { rows } = await db.query<VersionRow>('SELECT * FROM flow_versions WHERE flow_id = $1 AND version = $2', [flowId, version])
  return rows[0] ? toVersion<D>(rows[0]) : null
}

/** The newest version of a flow, or null when the flow does not exist or has no version yet. */
export async function getLatest<D = unknown> (db: Queryable, flowId: string): Promise<FlowVersion<D> | null> {
  checkId(flowId, 'flow id')
  const { rows } = await db.query<VersionRow>(
    `SELECT v.* FROM flows f JOIN flow_versions v ON v.flow_id = f.id AND v.version = f.latest_version
     WHERE f.id = $1`, [flowId])
  return rows[0] ? toVersion<D>(rows[0]) : null
}

/** One flow (without its definitions), or null. */
export async function getFlow (db: Queryable, flowId: string): Promise<Flow | null> {
  checkId(flowId, 'flow id')
  const { rows } = await db.query<FlowRow>('SELECT * FROM flows WHERE id = $1', [flowId])
  return rows[0] ? toFlow(rows[0]) : null
}

/** Every flow, by id. */
export async function list (db: Queryable): Promise<Flow[]> {
  const { rows } = await db.query<FlowRow>('SELECT * FROM flows ORDER BY id')
  return rows.map(toFlow)
}
