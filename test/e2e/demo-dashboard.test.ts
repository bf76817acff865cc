import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { chromium } from 'playwright-core'
import { databaseUrl, freePort, suffix, waitFor } from '@federate/testkit'

// Code passed to page.evaluate runs in the browser; the workspace compiles without the DOM library.
declare const document: any

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CLI = join(ROOT, 'apps/cli/src/main.ts')
const SCREENSHOTS = join(ROOT, 'test-results', 'screenshots')

test('against a running demo, the dashboard shows rising progress, plots and the fleet, and pausing stops new dials', { timeout: 240_000 }, async (t) => {
  assert.ok(existsSync('/usr/bin/chromium'), 'chromium is installed by scripts/ensure-chromium (scripts/test runs it)')
  const db = `fedtest_demodash_${suffix()}`
  const port = await freePort()
  const demo = spawn(process.execPath, ['--import', 'tsx', CLI, 'demo', '--speed', '10', '--contacts', '4000', '--rate', '15',
    '--max-instances', '2', '--port', String(port), '--database', db], {
    env: { ...process.env, FEDERATE_DATA_DIR: mkdtempSync(join(tmpdir(), 'fed-demodash-')) },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  demo.stdout.on('data', (d: Buffer) => { out += d.toString() })
  demo.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<number | null>((resolve) => demo.once('exit', resolve))
  const client = new pg.Client({ connectionString: databaseUrl(db) })
  t.after(async () => {
    // Ctrl-C: the demo stops its campaign, its controller (and the instances) and its servers.
    if (demo.exitCode === null) demo.kill('SIGINT')
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 60_000))])
    if (demo.exitCode === null) demo.kill('SIGKILL')
    await client.end().catch(() => {})
    const admin = new pg.Client({ connectionString: databaseUrl('postgres') })
    await admin.connect()
    await admin.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`)
    await admin.end()
  })

  const started = await waitFor(() => /admin key\s+(fed_\S+)/.exec(out) !== null && /campaign\s+started/.test(out) ? /admin key\s+(fed_\S+)/.exec(out) : null,
    { timeoutMs: 120_000, intervalMs: 200, what: `the demo to start its campaign; output so far:\n${out.slice(-2000)}` })
  const key = started[1]!
  await client.connect()
  const dialled = async (): Promise<number> => Number((await client.query('SELECT count(*)::int AS n FROM attempts')).rows[0].n)

  const profile = mkdtempSync(join(tmpdir(), 'fed-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  })
  t.after(async () => {
    await context.close()
    await rm(profile, { recursive: true, force: true })
  })
  const page = context.pages()[0] ?? await context.newPage()
  page.setDefaultTimeout(20_000)
  await page.goto(`http://127.0.0.1:${port}/dashboard`)
  await page.fill('#api-key', key)
  await page.click('#login-form button[type=submit]')
  await page.waitForSelector('#dashboard-view:not([hidden])')

  // The campaign's progress rises on the page, the fleet table lists the demo's instances.
  const row = page.locator('#campaigns tbody tr', { hasText: 'Election poll (demo)' })
  await row.waitFor()
  const progress = async (): Promise<number> => Number(await row.locator('progress').getAttribute('value'))
  const first = await progress()
  await waitFor(async () => await progress() > first, { timeoutMs: 60_000, intervalMs: 500, what: 'the campaign progress to rise on the page' })
  await waitFor(async () => await page.$$eval('#fleet tbody tr', (rows) => rows.length) >= 1, { timeoutMs: 30_000, what: 'the fleet table to list instances' })
  await page.waitForSelector('#chart-calls canvas')
  await mkdir(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: join(SCREENSHOTS, 'demo-dashboard-1280.png'), fullPage: true })

  // Pause from the page: after the calls already leased settle, no new attempt is leased.
  await row.locator('button', { hasText: 'Pause' }).click()
  await waitFor(async () => (await client.query('SELECT status FROM campaigns')).rows[0].status === 'paused', { what: 'the campaign to pause' })
  await new Promise((resolve) => setTimeout(resolve, 1500))
  const atPause = await dialled()
  await new Promise((resolve) => setTimeout(resolve, 4000))
  assert.equal(await dialled(), atPause, 'no new dial while paused')
  await row.locator('button', { hasText: 'Resume' }).click()
  await waitFor(async () => await dialled() > atPause, { timeoutMs: 30_000, what: 'dialling to go on after resume' })
  assert.equal(await page.evaluate(() => document.getElementById('status')!.textContent), 'live')
})
