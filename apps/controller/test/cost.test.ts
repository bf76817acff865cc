import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { readCost } from '../src/app.ts'
import { migratedDatabase } from './helpers.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

async function fixture (pool: import('@federate/db').DbPool) {
  // One instance all day, three for two hours of a campaign peak; one day.
  await pool.query(`INSERT INTO instances (id, provider, instance_type, state, launched_at, terminated_at) VALUES
    ('base-1', 'ec2', 'c7i.large', 'ready', '2026-03-01T00:00:00Z', NULL),
    ('peak-a-1', 'ec2', 'c7i.large', 'terminated', '2026-03-01T10:00:00Z', '2026-03-01T12:00:00Z'),
    ('peak-b-1', 'ec2', 'c7i.large', 'terminated', '2026-03-01T10:00:00Z', '2026-03-01T12:00:00Z'),
    ('peak-c-1', 'ec2', 'c7i.large', 'terminated', '2026-03-01T10:00:00Z', '2026-03-01T12:00:00Z')`)
  await pool.query(`INSERT INTO calls (call_id, instance_id, campaign_id, started_at, ended_at, duration_sec, status) VALUES
    ('c1', 'peak-a-1', 'spring', '2026-03-01T10:05:00Z', '2026-03-01T10:10:00Z', 300, 'ended'),
    ('c2', 'base-1', NULL, '2026-03-01T11:00:00Z', '2026-03-01T11:01:40Z', 100, 'ended')`)
  await pool.query(`INSERT INTO scaling_decisions (at, controller_id, action, code, observed, desired, reason) VALUES
    ('2026-03-01T10:00:00Z', 't', 'scale_out', 'load_up', 1, 4, 'campaign'),
    ('2026-03-01T12:00:00Z', 't', 'scale_in', 'load_down', 4, 1, 'done')`)
}

test('the cost report reads instance lifetimes, call-seconds and the peak from the database', async (t) => {
  const { pool } = await migratedDatabase(t)
  await fixture(pool)
  const r = await readCost(pool, { from: new Date('2026-03-01T00:00:00Z'), to: new Date('2026-03-02T00:00:00Z'), prices: ['c7i.large=0.1'] })
  // 24 h + 3 x 2 h = 30 instance-hours at $0.10.
  assert.equal(r.instanceSeconds, 30 * 3600)
  assert.equal(r.cost, 3)
  assert.deepEqual(r.fixed, { instances: 4, instanceSeconds: 4 * 24 * 3600, cost: 9.6 })
  assert.equal(r.savings.percent, 68.8)
  assert.deepEqual(r.byCampaign.map((c) => [c.campaignId, c.callSeconds, c.cost]), [['spring', 300, 2.25], [null, 100, 0.75]])
})

test('federate controller cost prints the report as JSON, and refuses a bad date', async (t) => {
  const { pool, url } = await migratedDatabase(t)
  await fixture(pool)
  const env = { ...process.env, DATABASE_URL: url, FEDERATE_PRICES: 'c7i.large=0.1' }
  const ok = spawnSync(process.execPath, ['--import', 'tsx', 'apps/cli/src/main.ts', 'controller', 'cost', '--from', '2026-03-01', '--to', '2026-03-02', '--json'], { cwd: ROOT, env, encoding: 'utf8' })
  assert.equal(ok.status, 0, ok.stderr)
  const report = JSON.parse(ok.stdout)
  assert.equal(report.cost, 3)
  assert.equal(report.fixed.cost, 9.6)
  const bad = spawnSync(process.execPath, ['--import', 'tsx', 'apps/cli/src/main.ts', 'controller', 'cost', '--from', 'yesterday-ish'], { cwd: ROOT, env, encoding: 'utf8' })
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /--from must be a date/)
})
