import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { DbPool } from '@federate/db'
import { observeBootSec, observeCampaigns, observeInstanceCalls, strandedChannels } from '../src/app.ts'
import { migratedDatabase } from './helpers.ts'

// Attempts leased `leasedSecAgo` seconds ago, answered 2 s later (or never), that ended `holdSec`
// after the answer (after the lease if unanswered; null: still up).
async function attempts (pool: DbPool, n: number, leasedSecAgo: number, holdSec: number | null, outcome = 'answered'): Promise<void> {
  const answered = outcome === 'answered'
  await pool.query(`
    WITH k AS (
      SELECT id FROM contacts WHERE campaign_id = 'spring' AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.contact_id = contacts.id) ORDER BY id LIMIT $1)
    INSERT INTO attempts (contact_id, campaign_id, attempt_no, call_id, instance_id, leased_at, lease_expires_at, started_at, ended_at, outcome)
    SELECT k.id, 'spring', 1, 'call-' || k.id, 'i-1', now() - make_interval(secs => $2), now() - make_interval(secs => $2) + interval '45 seconds',
      CASE WHEN $5 THEN now() - make_interval(secs => $2 - 2) END,
      CASE WHEN $3::float8 IS NULL THEN NULL ELSE now() - make_interval(secs => $2 - CASE WHEN $5 THEN 2 ELSE 0 END) + make_interval(secs => $3::float8) END,
      CASE WHEN $3::float8 IS NULL THEN NULL ELSE $4 END
    FROM k`, [n, leasedSecAgo, holdSec, outcome, answered])
}

// The running campaign 'spring' at `rateCps`, with `contacts` contacts pending.
async function springCampaign (pool: DbPool, rateCps: number, contacts: number): Promise<void> {
  await pool.query("INSERT INTO flows (id, name) VALUES ('survey', 'Survey')")
  await pool.query(`INSERT INTO campaigns (id, name, flow_id, caller_id, rate_cps, max_concurrent, retry_policy, status)
    VALUES ('spring', 'Spring survey', 'survey', '+15550000000', $1, 5000, '{}', 'running')`, [rateCps])
  await pool.query(`INSERT INTO contacts (campaign_id, phone_e164, time_zone)
    SELECT 'spring', '+1555' || lpad(g::text, 7, '0'), 'America/New_York' FROM generate_series(1, $1::int) g`, [contacts])
}

test('a campaign\'s hold time ignores its first calls to end (the shortest) and counts long calls still up at their age', async (t) => {
  const { pool } = await migratedDatabase(t)
  await springCampaign(pool, 10, 2000)
  const observe = async () => await observeCampaigns(pool, { horizonSec: 300, defaultHoldSec: 60 })

  // 20 s into the campaign: a few early hang-ups ended after 3 s, the other calls are still up.
  await attempts(pool, 5, 15, 3)
  await attempts(pool, 50, 15, null)
  const early = await observe()
  // Nothing old enough to judge yet: the default hold, 10 calls/s x 60 s (not 10 x 3 s).
  assert.equal(early.demand.total, 600)
  assert.deepEqual(early.demand.byCampaign, [{ id: 'spring', demand: 600, limitedBy: 'rate' }])

  // Attempts leased 100 s ago: ten rang 2 s and lasted 65 s (67 s of channel), ten are still up
  // (they count at their age, 100 s), five rang 15 s unanswered (their channel was held too).
  await attempts(pool, 10, 100, 65)
  await attempts(pool, 10, 100, null)
  await attempts(pool, 5, 100, 15, 'noanswer')
  const later = await observe()
  const hold = (10 * 67 + 10 * 100 + 5 * 15) / 25
  assert.ok(Math.abs(later.demand.total - 10 * hold) <= 2, `10 calls/s x ${hold} s = ${10 * hold}, got ${later.demand.total}`)
})

test('a campaign with no attempts yet is expected to hold its channels for the default hold time', async (t) => {
  const { pool } = await migratedDatabase(t)
  await springCampaign(pool, 5, 100)
  const r = await observeCampaigns(pool, { horizonSec: 300, defaultHoldSec: 45 })
  // 5 calls/s x 45 s = 225, but only 100 contacts are left to dial.
  assert.deepEqual(r.demand.byCampaign, [{ id: 'spring', demand: 100, limitedBy: 'contacts' }])
})

test('the launch lead is the 90th percentile of the provider\'s last twenty boots', async (t) => {
  const { pool } = await migratedDatabase(t)
  assert.equal(await observeBootSec(pool, 'local'), null, 'nothing measured yet')
  // 25 local boots: the oldest five took 100 s (no longer among the last twenty), then 1..20 s.
  await pool.query(`INSERT INTO instances (id, provider, state, launched_at, ready_at)
    SELECT 'loc-' || g, 'local', 'ready', now() - interval '1 hour' + make_interval(secs => g * 200),
      now() - interval '1 hour' + make_interval(secs => g * 200 + CASE WHEN g <= 5 THEN 100 ELSE g - 5 END)
    FROM generate_series(1, 25) g`)
  // One still booting and another provider's instances do not count.
  await pool.query(`INSERT INTO instances (id, provider, state, launched_at, ready_at) VALUES
    ('loc-boot', 'local', 'booting', now(), NULL), ('ec2-1', 'ec2', 'ready', now() - interval '5 minutes', now())`)
  const p90 = await observeBootSec(pool, 'local')
  // percentile_cont over 1..20: 1 + 0.9 x 19 = 18.1.
  assert.ok(Math.abs(p90! - 18.1) < 1e-6, String(p90))
  assert.equal(await observeBootSec(pool, 'ec2'), 300)
})

test('per instance: its calls up and ringing, and when the youngest began; stranded channels are the few left free on a full instance', async (t) => {
  const { pool } = await migratedDatabase(t)
  await springCampaign(pool, 10, 20)
  // i-1: 92 calls up since a minute ago. i-2: 40 calls up 30 s ago, and 3 attempts ringing since 1 s
  // ago (answered campaign calls have a calls row and an attempt: counted once).
  await pool.query(`INSERT INTO calls (call_id, instance_id, direction, started_at)
    SELECT 'a' || g, 'i-1', 'inbound', now() - interval '60 seconds' FROM generate_series(1, 92) g`)
  await pool.query(`INSERT INTO calls (call_id, instance_id, direction, started_at, campaign_id)
    SELECT 'b' || g, 'i-2', 'outbound', now() - interval '30 seconds', 'spring' FROM generate_series(1, 40) g`)
  await pool.query(`INSERT INTO attempts (contact_id, campaign_id, attempt_no, call_id, instance_id, leased_at, lease_expires_at, started_at)
    SELECT id, 'spring', 1, 'b' || row_number() OVER (ORDER BY id), 'i-2', now() - interval '31 seconds', now(), now() - interval '30 seconds' FROM contacts ORDER BY id LIMIT 10`)
  await pool.query(`INSERT INTO attempts (contact_id, campaign_id, attempt_no, call_id, instance_id, leased_at, lease_expires_at)
    SELECT id, 'spring', 1, 'r' || id, 'i-2', now() - interval '1 second', now() + interval '30 seconds' FROM contacts ORDER BY id OFFSET 10 LIMIT 3`)
  const now = Date.now()
  const load = await observeInstanceCalls(pool)
  assert.equal(load.get('i-1')!.calls, 92)
  assert.equal(load.get('i-2')!.calls, 43)
  assert.ok(Math.abs(load.get('i-1')!.youngestAt - (now - 60_000)) < 2000)
  assert.ok(Math.abs(load.get('i-2')!.youngestAt - (now - 1000)) < 2000)
  assert.equal(load.has('i-3'), false)

  const ready = [{ id: 'i-1', capacity: 100 }, { id: 'i-2', capacity: 100 }, { id: 'i-3', capacity: 100 }]
  // i-1: 8 free of 100 (its unanswered calls' channels): stranded. i-2: 57 free is room (its calls
  // are ending, or it is filling); i-3: empty, fresh room.
  assert.equal(strandedChannels(ready, load), 8)
  assert.equal(strandedChannels([{ id: 'i-1', capacity: 95 }], load), 3)
  assert.equal(strandedChannels([{ id: 'i-2', capacity: 50 }], load), 7, 'at most 15 % free')
  assert.equal(strandedChannels([{ id: 'i-2', capacity: 60 }], load), 0, 'more than 15 % free')
  assert.equal(strandedChannels([{ id: 'i-1', capacity: 92 }], load), 0, 'full')
})
