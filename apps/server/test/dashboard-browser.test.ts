import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Page } from 'playwright-core'
import { createApiKey } from '@federate/db'
import { suffix, waitFor } from '@federate/testkit'
import { startTestServer } from '../../../test/helpers/server.ts'

// Code passed to page.evaluate runs in the browser; the workspace compiles without the DOM library.
declare const document: any
declare const sessionStorage: any
type HTMLCanvasElement = any

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOTS = join(ROOT, 'test-results', 'screenshots')
const poll = JSON.parse(await readFile(join(ROOT, 'examples/flows/poll.json'), 'utf8'))

// Debian's chromium, installed by scripts/ensure-chromium when missing (a failure to install fails the test).
function ensureChromium (): void {
  if (existsSync(CHROMIUM)) return
  const run = spawnSync(join(ROOT, 'scripts/ensure-chromium'), { stdio: 'inherit' })
  assert.equal(run.status, 0, 'scripts/ensure-chromium could not install chromium')
}

/** Pixels of the plot's canvas in the first line's colour (#4c8bf5): the line is drawn, not only the axes. */
async function linePixels (page: Page, selector: string): Promise<number> {
  return await page.$eval(selector, (canvas) => {
    const c = canvas as HTMLCanvasElement
    const { data } = c.getContext('2d')!.getImageData(0, 0, c.width, c.height)
    let n = 0
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i]! - 0x4c) < 24 && Math.abs(data[i + 1]! - 0x8b) < 24 && Math.abs(data[i + 2]! - 0xf5) < 24 && data[i + 3]! > 200) n++
    }
    return n
  })
}

test('in headless Chromium an operator signs in, sees the fleet and the plots, and pauses a campaign, at desktop and phone widths', async (t) => {
  ensureChromium()
  const s = await startTestServer(t, { FEDERATE_DIALER: 'true', DIALER_PREFIX: `t${suffix()}` })
  const operator = (await createApiKey(s.deps.pool, 'operator', 'night shift')).key
  const rest = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${s.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${operator}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    })
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.clone().text()}`)
    return await res.json()
  }
  await rest('POST', '/flows', { id: 'poll', definition: poll })
  await rest('POST', '/campaigns', {
    id: 'spring', name: 'Spring poll', flowId: 'poll', callerId: '+15550001111', rateCps: 5, maxConcurrent: 10, window: { start: '00:00', end: '24:00' },
  })
  // A contact keeps the started campaign running (one with nothing left to dial completes).
  const imported = await fetch(`${s.url}/api/v1/campaigns/spring/contacts`, {
    method: 'POST', headers: { authorization: `Bearer ${operator}`, 'content-type': 'text/csv' }, body: 'phone\n+12125550101\n+12125550102\n',
  })
  assert.equal((await imported.json() as { imported: number }).imported, 2)
  await rest('POST', '/campaigns/spring/start')
  await s.deps.pool.query(`INSERT INTO instances (id, state, capacity, active_calls, manifest_version, last_heartbeat_at) VALUES
    ('ast-1', 'ready', 50, 2, 7, now()), ('ast-2', 'ready', 50, 1, 7, now()), ('ast-3', 'booting', 50, 0, 0, NULL)`)
  await s.deps.pool.query(`INSERT INTO calls (call_id, instance_id, direction, campaign_id, started_at) VALUES
    ('c1', 'ast-1', 'outbound', 'spring', now()), ('c2', 'ast-1', 'outbound', 'spring', now()), ('c3', 'ast-2', 'inbound', NULL, now())`)

  await s.deps.pool.query(`INSERT INTO scaling_decisions (at, controller_id, action, code, observed, desired, load, instance_ids, reason) VALUES
    (now() - interval '30 seconds', 'ctl-1', 'scale_out', 'load_up', 2, 3, 120, '{ast-3}', 'load 120 calls needs 3 instances; have 2: launch 1')`)

  const profile = await mkdtemp(join(tmpdir(), 'fed-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
  })
  t.after(async () => {
    await context.close()
    await rm(profile, { recursive: true, force: true })
  })
  const page = context.pages()[0] ?? await context.newPage()
  page.setDefaultTimeout(10_000)
  const problems: string[] = []
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(`console: ${m.text()}`) })
  page.on('response', (r) => { if (r.status() >= 400 && r.status() !== 401) problems.push(`${r.status()} ${r.url()}`) })
  await mkdir(SCREENSHOTS, { recursive: true })

  await page.goto(`${s.url}/dashboard`)
  await page.waitForSelector('#login-view:not([hidden])')
  await page.fill('#api-key', 'fed_wrong_key')
  await page.click('#login-form button[type=submit]')
  await page.waitForFunction(() => /refused/.test(document.getElementById('login-error')!.textContent!))
  await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-login-1280.png') })

  await page.fill('#api-key', operator)
  await page.click('#login-form button[type=submit]')
  await page.waitForSelector('#dashboard-view:not([hidden])')
  assert.equal(await page.textContent('#who'), 'night shift · operator')
  assert.equal(await page.evaluate(() => sessionStorage.getItem('federate.apiKey')), operator, 'the key stays in this tab\'s storage')
  assert.ok(!page.url().includes('fed_'), 'the key is never in the URL')

  await page.waitForFunction(() => document.querySelectorAll('#fleet tbody tr').length === 3)
  const fleet = await page.$$eval('#fleet tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent!.trim())))
  assert.deepEqual(fleet.map((r) => r.slice(0, 3)), [['ast-1', 'ready', '2 / 50'], ['ast-2', 'ready', '1 / 50'], ['ast-3', 'booting', '0 / 50']])
  assert.equal(await page.textContent('#t-active'), '3')
  assert.equal(await page.textContent('#t-ready'), '2 / 3')
  assert.equal(await page.textContent('#status'), 'live')
  assert.match(await page.textContent('#decisions tbody') ?? '', /scale out.*load_up.*2 → 3.*load 120 calls needs 3 instances; have 2: launch 1/)

  // The plots draw once two samples exist (one per poll); the concurrent-calls legend names the campaign.
  await page.waitForSelector('#chart-calls canvas')
  await waitFor(async () => await linePixels(page, '#chart-calls canvas') > 10, { timeoutMs: 8000, what: 'the concurrent calls line to be drawn' })
  assert.ok(await linePixels(page, '#chart-instances canvas') > 10, 'the instances line is drawn')
  const legend = await page.$$eval('#chart-calls .u-legend .u-label', (els) => els.map((e) => e.textContent))
  assert.ok(legend.includes('All') && legend.includes('Spring poll'), `legend ${legend.join(', ')}`)

  // Pause and resume through the dialer's REST routes.
  const campaignRow = page.locator('#campaigns tbody tr', { hasText: 'Spring poll' })
  await campaignRow.locator('button', { hasText: 'Pause' }).click()
  await waitFor(async () => (await s.deps.pool.query("SELECT status FROM campaigns WHERE id = 'spring'")).rows[0].status === 'paused', { what: 'the campaign to pause' })
  await campaignRow.locator('button', { hasText: 'Resume' }).waitFor({ timeout: 8000 })
  assert.equal(await campaignRow.locator('.badge').textContent(), 'paused')
  await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-1280.png'), fullPage: true })
  await campaignRow.locator('button', { hasText: 'Resume' }).click()
  await waitFor(async () => (await s.deps.pool.query("SELECT status FROM campaigns WHERE id = 'spring'")).rows[0].status === 'running', { what: 'the campaign to resume' })

  // Phone width: one column, nothing wider than the screen but the tables' own scroll boxes.
  await page.setViewportSize({ width: 390, height: 844 })
  await waitFor(async () => await page.$eval('#chart-calls canvas', (c) => c.getBoundingClientRect().width <= 390), { what: 'the plot to shrink' })
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`)
  await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-390.png'), fullPage: true })

  // The dark theme, for a look at the contrast.
  await page.emulateMedia({ colorScheme: 'dark' })
  await page.setViewportSize({ width: 1280, height: 800 })
  await page.waitForTimeout(2500)
  await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-1280-dark.png') })

  // Signing out forgets the key.
  await page.click('#logout')
  await page.waitForSelector('#login-view:not([hidden])')
  assert.equal(await page.evaluate(() => sessionStorage.getItem('federate.apiKey')), null)
  assert.deepEqual(problems, [])
})
