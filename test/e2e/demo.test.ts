import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { databaseUrl, freePort, suffix } from '@federate/testkit'

const CLI = new URL('../../apps/cli/src/main.ts', import.meta.url).pathname

test('federate demo --speed high runs to completion and its report matches the database', { timeout: 300_000 }, async (t) => {
  const db = `fedtest_demo_${suffix()}`
  const dataDir = mkdtempSync(join(tmpdir(), 'fed-demo-'))
  const port = await freePort()
  const opened: { client?: pg.Client } = {}
  t.after(async () => {
    await opened.client?.end()
    const admin = new pg.Client({ connectionString: databaseUrl('postgres') })
    await admin.connect()
    await admin.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`)
    await admin.end()
  })
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', CLI, 'demo', '--speed', 'high', '--contacts', '600', '--rate', '30',
    '--max-instances', '3', '--port', String(port), '--database', db, '--json'], {
    env: { ...process.env, FEDERATE_DATA_DIR: dataDir },
    timeout: 280_000,
    maxBuffer: 16 * 1024 * 1024,
  })
  const report = JSON.parse(stdout)
  assert.deepEqual(JSON.parse(readFileSync(join(dataDir, 'demo', 'report.json'), 'utf8')), report, 'the report file is the printed report')

  const q = opened.client = new pg.Client({ connectionString: databaseUrl(db) })
  await q.connect()
  const one = async (sql: string): Promise<number> => Number(Object.values((await q.query(sql)).rows[0] ?? { n: 0 })[0] ?? 0)
  assert.equal(report.contacts, 600)
  assert.equal(report.contacts, await one('SELECT count(*) FROM contacts'))
  // Every outcome the report gives is what the attempts table holds; the campaign is finished.
  const outcomes = Object.fromEntries((await q.query("SELECT outcome, count(*)::int AS n FROM attempts WHERE outcome IS NOT NULL AND outcome <> 'expired' GROUP BY 1")).rows.map((r) => [r.outcome, r.n]))
  assert.deepEqual(report.outcomes, outcomes)
  assert.equal(report.attempts.open, 0)
  assert.equal(await one("SELECT count(*) FROM campaigns WHERE status = 'completed'"), 1)
  // The accounting identity: every contact's attempts add up to the dialled attempts.
  assert.equal(report.attempts.dialled, await one('SELECT sum(attempts) FROM contacts'))
  const votes = Object.fromEntries((await q.query("SELECT value, count(*)::int AS n FROM call_results WHERE key = 'vote' GROUP BY 1")).rows.map((r) => [r.value, r.n]))
  assert.deepEqual(report.poll, votes)
  assert.ok(Object.keys(votes).length >= 1, 'people voted')
  assert.ok(report.peakConcurrentCalls > 0 && report.peakCallsPerSecond > 0)
  // The fleet grew from its minimum and scaling decisions were recorded with their reasons.
  assert.ok(report.instances.launched >= 1)
  assert.equal(report.decisions, await one('SELECT count(*) FROM scaling_decisions'))
  assert.equal(await one("SELECT count(*) FROM scaling_decisions WHERE reason IS NULL OR reason = ''"), 0)
  assert.ok(report.cost.instanceHours > 0 && report.cost.costUsd > 0)
})
