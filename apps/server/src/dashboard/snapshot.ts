import { sqlState, type Queryable } from '@federate/db'

/** A part of the page; `available` is false when its table does not exist (yet) in this database. */
export interface Section<T> { available: boolean, rows: T[] }

export interface FleetRow {
  id: string
  state: string
  activeCalls: number
  capacity: number
  manifestVersion: number
  agentVersion: string | null
  lastHeartbeatAt: string | null
  /** Measured by PostgreSQL, so the browser's clock does not matter. */
  heartbeatAgeSec: number | null
}

export interface CampaignRow {
  id: string
  name: string
  status: string
  rateCps: number
  maxConcurrent: number
  /** Calls of the campaign up now (table `calls`). */
  concurrent: number
  /** Calls started per second over the last RATE_WINDOW_SEC. */
  cps: number
  /** Contacts by state; null until the first slow read. */
  contacts: Record<string, number> | null
  /** Settled attempts by outcome (expired leases are not dialled and not counted). */
  outcomes: Record<string, number> | null
  /** (done + failed) / total contacts, 0..1; null when unknown or no contacts. */
  progress: number | null
}

/** A scaling decision of the controller (table `scaling_decisions`, migration 0300). */
export interface DecisionRow {
  at: string
  action: string
  code: string
  observed: number
  desired: number
  load: number
  instanceIds: string[]
  callsCut: number
  reason: string
  controllerId: string
}

export interface DbSnapshot {
  calls: { active: number, cps: number, endedLastMinute: number | null, lostLastMinute: number | null }
  /** Live calls and rate per campaign id ('' for calls of no campaign). */
  callsByCampaign: Record<string, { concurrent: number, cps: number }>
  campaigns: Section<CampaignRow>
  fleet: Section<FleetRow>
  /** The controller's last scaling decisions, newest first. */
  decisions: Section<DecisionRow>
}

export const RATE_WINDOW_SEC = 10

// A table or column another migration has not created (yet): show the section empty.
const MISSING = new Set(['42P01', '42703'])

async function tolerant<T> (read: () => Promise<T[]>): Promise<Section<T>> {
  try {
    return { available: true, rows: await read() }
  } catch (err) {
    if (MISSING.has(sqlState(err) ?? '')) return { available: false, rows: [] }
    throw err
  }
}

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : v === null || v === undefined ? null : String(v))

/**
 * Reads what the dashboard shows from PostgreSQL. Cheap, indexed queries run on every read; the
 * ones that count a campaign's contacts and attempts (or scan the last minute of ended calls) run
 * at most every `slowEveryMs` and are reused in between. Finished campaigns are counted once.
 */
export function createSnapshotReader (db: Queryable, { slowEveryMs = 10_000 } = {}) {
  let slowAt = -Infinity
  let ended: { endedLastMinute: number, lostLastMinute: number } | null = null
  const counts = new Map<string, { contacts: Record<string, number>, outcomes: Record<string, number> }>()
  const finished = new Set<string>()

  async function readCalls () {
    const { rows } = await db.query(`
      SELECT coalesce(campaign_id, '') AS campaign_id,
        count(*) FILTER (WHERE status = 'active')::int AS active,
        count(*) FILTER (WHERE started_at > now() - make_interval(secs => $1))::int AS recent
      FROM calls
      WHERE status = 'active' OR started_at > now() - make_interval(secs => $1)
      GROUP BY 1`, [RATE_WINDOW_SEC])
    const byCampaign: DbSnapshot['callsByCampaign'] = {}
    let active = 0
    let recent = 0
    for (const r of rows) {
      byCampaign[r.campaign_id] = { concurrent: r.active, cps: r.recent / RATE_WINDOW_SEC }
      active += r.active
      recent += r.recent
    }
    return { active, cps: recent / RATE_WINDOW_SEC, byCampaign }
  }

  async function readEnded () {
    // Bounded by the started_at index: a call longer than 2 hours that just ended is not counted.
    const { rows } = await db.query(`
      SELECT count(*) FILTER (WHERE status = 'ended')::int AS ended, count(*) FILTER (WHERE status = 'lost')::int AS lost
      FROM calls WHERE started_at > now() - interval '2 hours' AND ended_at > now() - interval '1 minute'`)
    return { endedLastMinute: rows[0].ended, lostLastMinute: rows[0].lost }
  }

  async function readFleet (): Promise<FleetRow[]> {
    const { rows } = await db.query(`
      SELECT id, state, active_calls, capacity, manifest_version, agent_version, last_heartbeat_at,
        extract(epoch FROM now() - last_heartbeat_at)::float8 AS heartbeat_age_sec
      FROM instances
      WHERE state <> 'terminated' OR terminated_at > now() - interval '15 minutes'
      ORDER BY state = 'terminated', id
      LIMIT 500`)
    return rows.map((r) => ({
      id: r.id,
      state: r.state,
      activeCalls: r.active_calls,
      capacity: r.capacity,
      manifestVersion: r.manifest_version,
      agentVersion: r.agent_version,
      lastHeartbeatAt: iso(r.last_heartbeat_at),
      heartbeatAgeSec: r.heartbeat_age_sec === null ? null : Math.round(r.heartbeat_age_sec * 10) / 10,
    }))
  }

  async function readCampaigns (): Promise<Array<Omit<CampaignRow, 'concurrent' | 'cps' | 'contacts' | 'outcomes' | 'progress'>>> {
    const { rows } = await db.query(`
      SELECT id, name, status, rate_cps::float8 AS rate_cps, max_concurrent
      FROM campaigns
      WHERE status IN ('running', 'paused', 'draft') OR coalesce(completed_at, stopped_at) > now() - interval '24 hours'
      ORDER BY array_position(ARRAY['running', 'paused', 'draft', 'completed', 'stopped'], status), created_at DESC
      LIMIT 50`)
    return rows.map((r) => ({ id: r.id, name: r.name, status: r.status, rateCps: r.rate_cps, maxConcurrent: r.max_concurrent }))
  }

  async function readCounts (ids: string[]): Promise<void> {
    if (ids.length === 0) return
    const [contacts, attempts] = await Promise.all([
      db.query('SELECT campaign_id, state, count(*)::int AS n FROM contacts WHERE campaign_id = ANY($1) GROUP BY 1, 2', [ids]),
      db.query(`SELECT campaign_id, outcome, count(*)::int AS n FROM attempts
        WHERE campaign_id = ANY($1) AND outcome IS NOT NULL AND outcome <> 'expired' GROUP BY 1, 2`, [ids]),
    ])
    for (const id of ids) counts.set(id, { contacts: {}, outcomes: {} })
    for (const r of contacts.rows) counts.get(r.campaign_id)!.contacts[r.state] = r.n
    for (const r of attempts.rows) counts.get(r.campaign_id)!.outcomes[r.outcome] = r.n
  }

  async function readDecisions (): Promise<DecisionRow[]> {
    const { rows } = await db.query(`
      SELECT at, action, code, observed, desired, load, instance_ids, calls_cut, reason, controller_id
      FROM scaling_decisions ORDER BY at DESC, id DESC LIMIT 20`)
    return rows.map((r) => ({
      at: iso(r.at)!,
      action: r.action,
      code: r.code,
      observed: r.observed,
      desired: r.desired,
      load: r.load,
      instanceIds: r.instance_ids,
      callsCut: r.calls_cut,
      reason: r.reason,
      controllerId: r.controller_id,
    }))
  }

  return {
    /** One snapshot; `fresh` runs the slow queries now whatever their schedule. */
    async read ({ fresh = false, now = Date.now() } = {}): Promise<DbSnapshot> {
      const slow = fresh || now - slowAt >= slowEveryMs
      const [calls, fleet, campaigns, decisions, endedNow] = await Promise.all([
        readCalls(),
        tolerant(readFleet),
        tolerant(readCampaigns),
        tolerant(readDecisions),
        slow ? readEnded() : Promise.resolve(ended),
      ])
      if (slow) {
        slowAt = now
        ended = endedNow
        if (campaigns.available) {
          const ids = campaigns.rows.filter((c) => fresh || !finished.has(c.id)).map((c) => c.id)
          const s = await tolerant(async () => { await readCounts(ids); return [] })
          if (s.available) for (const c of campaigns.rows) if (c.status === 'completed' || c.status === 'stopped') finished.add(c.id)
        }
      }
      const rows: CampaignRow[] = campaigns.rows.map((c) => {
        const live = calls.byCampaign[c.id] ?? { concurrent: 0, cps: 0 }
        const known = counts.get(c.id)
        const total = known ? Object.values(known.contacts).reduce((s, n) => s + n, 0) : 0
        const progress = known && total > 0 ? ((known.contacts.done ?? 0) + (known.contacts.failed ?? 0)) / total : null
        return { ...c, ...live, contacts: known?.contacts ?? null, outcomes: known?.outcomes ?? null, progress }
      })
      return {
        calls: { active: calls.active, cps: calls.cps, endedLastMinute: endedNow?.endedLastMinute ?? null, lostLastMinute: endedNow?.lostLastMinute ?? null },
        callsByCampaign: calls.byCampaign,
        campaigns: { available: campaigns.available, rows },
        fleet,
        decisions,
      }
    },
  }
}

export type SnapshotReader = ReturnType<typeof createSnapshotReader>
