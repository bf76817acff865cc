import type pg from 'pg'

// A campaign winds down in its last minutes of dialling: the calls it places from then on decide
// when the fleet can shrink after it, so each instance must take them in one tight cohort (see
// placement.ts). The dialer (placement) and the controller (stranded channels) judge it the same
// way, from the contacts left to dial.

/** The last this-many seconds of dialling, at the campaign's rate, are its wind-down. */
export const WIND_DOWN_SEC = 120

/** Free channels up to this share of an instance, past its cohort, are gaps while a campaign winds down. */
export const GAP_SHARE = 0.15

/** A cohort lasts twice the time `rateCps` takes to fill `capacity` channels, and 3 s at least (ms). */
export function cohortMs (capacity: number, rateCps: number): number {
  return Math.max(3000, rateCps > 0 && capacity > 0 ? (2000 * capacity) / rateCps : 0)
}

/** Whether a campaign with `toDial` contacts left to dial at `rateCps` is winding down. */
export function windingDown (toDial: number, rateCps: number, sec = WIND_DOWN_SEC): boolean {
  return rateCps > 0 && toDial <= rateCps * sec
}

/**
 * Contacts a campaign will still dial within `horizonSec`: queued, and pending ones due by then;
 * counted up to `cap` (enough to tell whether it winds down, at the cost of a small campaign).
 */
export async function contactsToDial (db: pg.Pool, campaignId: string, horizonSec: number, cap: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`
    SELECT (SELECT count(*) FROM (SELECT 1 FROM contacts WHERE campaign_id = $1 AND state = 'queued' LIMIT $3) q)::int
         + (SELECT count(*) FROM (SELECT 1 FROM contacts WHERE campaign_id = $1 AND state = 'pending'
              AND next_attempt_at <= now() + make_interval(secs => $2) LIMIT $3) p)::int AS n`, [campaignId, horizonSec, cap])
  return rows[0]!.n
}
