import { mkdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { pino } from 'pino'
import pg from 'pg'
import { loadConfig, databaseSettings, memcachedSettings, redisSettings, s3Settings } from '@federate/config'
import { createApiKey, createPool, migrate, type DbPool } from '@federate/db'
import { startServerChild, type Child } from './children.ts'
import { demoContactsCsv } from './contacts.ts'
import { DEMO_PROMPTS, toneWav } from './prompts.ts'
import { buildReport, formatReport, type DemoReport, type Sample } from './report.ts'

export interface DemoOptions {
  /** Simulated time runs this many times faster (ring, talk and prompt times divided by it). */
  speed: number
  contacts: number
  rateCps: number
  maxInstances: number
  port: number
  /** The demo's own database (dropped and recreated), default federate_demo. */
  database: string
  /** Keep everything running after the report until Ctrl-C (to look at the dashboard). */
  keep: boolean
  json: boolean
  dataDir: string
  out: (line: string) => void
  /** Ctrl-C: stop dialling, report what happened so far, and clean up. */
  signal?: AbortSignal
}

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const CAMPAIGN = 'election-demo'
const FLOW = 'election-poll'

function demoDatabaseUrl (name: string): { url: string, name: string } {
  const base = new URL(loadConfig(databaseSettings).databaseUrl)
  base.pathname = `/${name}`
  return { url: base.toString(), name }
}

// A fresh database for each run, so the report is this run's alone.
async function recreateDatabase (url: string, name: string): Promise<void> {
  const admin = new URL(url)
  admin.pathname = '/postgres'
  const c = new pg.Client({ connectionString: admin.toString() })
  await c.connect()
  try {
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
  } finally {
    await c.end()
  }
  await migrate(url)
}

async function api (base: string, key: string, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<any> {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': contentType } : {}) },
    body: body === undefined ? undefined : (contentType === 'application/json' ? JSON.stringify(body) : body as never),
    ...(body !== undefined && contentType !== 'application/json' ? { duplex: 'half' } : {}),
  } as RequestInit)
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`)
  return text ? JSON.parse(text) : null
}

/**
 * `federate demo`: the whole system on this machine. A fresh database, the demo's prompts in
 * S3, the election poll flow, two app servers (the agents fail over between them), the
 * controller with the local provider growing and shrinking a simulated fleet, and a campaign
 * over generated contacts across time zones. Prints live progress, then a report read back
 * from the database.
 */
export async function runDemo (o: DemoOptions): Promise<DemoReport> {
  const logDir = join(o.dataDir, 'log', 'demo')
  mkdirSync(logDir, { recursive: true })
  const { url: dbUrl, name: dbName } = demoDatabaseUrl(o.database)
  o.out(`database      ${dbName} (recreated)`)
  await recreateDatabase(dbUrl, dbName)
  const pool = createPool(dbUrl, { max: 4 })
  const children: Child[] = []
  let controller: { close: () => Promise<void> } | undefined
  const stopAll = async () => {
    await controller?.close().catch(() => {})
    await Promise.all(children.map(async (c) => { await c.stop() }))
    await pool.close()
  }
  try {
    // Prompts: generated tones, stored by content hash in S3; every instance syncs them.
    const s3c = loadConfig(s3Settings)
    const storage = await import('@federate/storage')
    const s3 = storage.createS3(s3c)
    await s3.ensureBucket()
    const ctx = { pool: pool as DbPool, s3 }
    for (const [name, tone] of Object.entries(DEMO_PROMPTS)) await storage.putPrompt(ctx, name, toneWav(tone.hz, tone.ms), { filename: `${name}.wav` })
    s3.close()
    o.out(`prompts       ${Object.keys(DEMO_PROMPTS).length} uploaded to s3://${s3c.s3Bucket}`)

    const admin = await createApiKey(pool, 'admin', 'demo')
    const common = {
      DATABASE_URL: dbUrl,
      CACHE_PREFIX: `demo${Date.now().toString(36)}`,
      LOG_LEVEL: 'warn',
      FEDERATE_STORAGE: 'true',
      DIALER_PREFIX: `fed:demo:${Date.now().toString(36)}`,
      MEMCACHED_SERVERS: loadConfig(memcachedSettings).memcachedServers.join(','),
      REDIS_URL: loadConfig(redisSettings).redisUrl,
    }
    for (const [i, port] of [o.port, o.port + 1].entries()) {
      children.push(await startServerChild(`app server ${i + 1}`, port, common, join(logDir, `server-${i + 1}.log`)))
    }
    const [a, b] = children
    o.out(`app servers   ${a!.url} and ${b!.url} (agents fail over between them)`)
    o.out(`dashboard     ${a!.url}/dashboard  (log in with the key below)`)
    o.out(`admin key     ${admin.key}`)

    const poll = JSON.parse(await readFile(join(ROOT, 'examples/flows/poll.json'), 'utf8'))
    await api(a!.url, admin.key, 'POST', '/flows', { id: FLOW, name: 'Election poll', definition: poll })
    await api(a!.url, admin.key, 'POST', '/campaigns', {
      id: CAMPAIGN,
      name: 'Election poll (demo)',
      flowId: FLOW,
      callerId: '+12025550100',
      rateCps: o.rateCps,
      maxConcurrent: o.maxInstances * 100,
      ringTimeoutSec: 25,
      // The demo runs whatever the hour; a real campaign keeps the default 09:00-21:00 local time.
      window: { start: '00:00', end: '24:00' },
      // Retry delays of a real campaign (minutes), compressed like the rest of simulated time.
      retryPolicy: Object.fromEntries(Object.entries({ busy: 120, noanswer: 300, failed: 300, lost: 60 })
        .map(([outcome, sec]) => [outcome, { retry: true, delaySec: Math.max(2, Math.round(sec / o.speed)) }])),
      maxAttempts: 2,
    })
    const imported = await api(a!.url, admin.key, 'POST', `/campaigns/${CAMPAIGN}/contacts?defaultCountry=US`, demoContactsCsv(o.contacts), 'text/csv')
    o.out(`contacts      ${imported.imported} imported (${imported.duplicates} duplicates, ${imported.badCount ?? 0} bad)`)

    // The controller, in this process, with the local provider: each instance is a `federate
    // sim` process with its own agent and the token the controller issued for it.
    const { runController } = await import('@federate/controller')
    const logger = pino({ level: 'warn' }, pino.destination(join(logDir, 'controller.log')))
    controller = await runController({
      logger,
      handleSignals: false,
      env: {
        ...process.env,
        DATABASE_URL: dbUrl,
        FEDERATE_PROVIDER: 'local',
        FEDERATE_AGENT_SERVERS: `${a!.url}/RPC2,${b!.url}/RPC2`,
        FEDERATE_LOCAL_SPEED: String(o.speed),
        FEDERATE_LOCAL_CAPACITY: '100',
        FEDERATE_LOCAL_STATE_DIR: join(o.dataDir, 'run', 'demo-fleet'),
        FEDERATE_SCALE_MIN: '1',
        FEDERATE_SCALE_MAX: String(o.maxInstances),
        FEDERATE_RECONCILE_MS: '2000',
        FEDERATE_SCALE_IN_STABILISATION_SEC: '20',
        FEDERATE_HEARTBEAT_LOST_SEC: '20',
        FEDERATE_CAMPAIGN_HOLD_SEC: String(Math.max(2, Math.round(60 / o.speed))),
      },
    })
    await api(a!.url, admin.key, 'POST', `/campaigns/${CAMPAIGN}/start`)
    o.out('campaign      started; Ctrl-C stops the demo\n')

    const startedAt = new Date()
    const samples: Sample[] = []
    let doneAt: number | undefined
    for (;;) {
      const s = await api(a!.url, admin.key, 'GET', `/campaigns/${CAMPAIGN}/stats?windowSec=5`)
      const { rows } = await pool.query<{ state: string, n: number }>('SELECT state, count(*)::int AS n FROM instances GROUP BY state')
      const by = Object.fromEntries(rows.map((r) => [r.state, r.n]))
      const instances = { ready: by.ready ?? 0, starting: (by.pending ?? 0) + (by.booting ?? 0) + (by.syncing ?? 0), draining: by.draining ?? 0 }
      const t = (Date.now() - startedAt.getTime()) / 1000
      samples.push({ t, concurrent: s.concurrent, cps: s.cps, instances })
      const votes = (s.results as Array<{ key: string, value: string, count: number }>).filter((r) => r.key === 'vote').map((r) => `${r.value}:${r.count}`).join(' ')
      const line = `${t.toFixed(0).padStart(4)}s  dialled ${String(s.dialled).padStart(6)}/${s.contacts.total}  ` +
        `answered ${s.outcomes.answered}  busy ${s.outcomes.busy}  no-answer ${s.outcomes.noanswer}  machine ${s.outcomes.machine}  ` +
        `| ${s.cps.toFixed(0)} cps, ${s.concurrent} live | instances ${instances.ready} ready ${instances.starting} starting ${instances.draining} draining | votes ${votes || '-'}`
      o.out(line)
      if (s.status === 'completed' && doneAt === undefined) doneAt = Date.now()
      // After the campaign: wait for the fleet to shrink back to its minimum, then report.
      if (doneAt !== undefined && ((instances.ready + instances.starting + instances.draining <= 1) || Date.now() - doneAt > 90_000)) break
      if (o.signal?.aborted) {
        o.out('stopping: Ctrl-C')
        await api(a!.url, admin.key, 'POST', `/campaigns/${CAMPAIGN}/stop`).catch(() => {})
        break
      }
      await sleep(1000)
    }
    const report = await buildReport(pool, { database: dbName, campaignId: CAMPAIGN, startedAt, samples, pricePerHour: 0.085 })
    if (o.keep) {
      o.out(formatReport(report))
      o.out(`everything is still running: dashboard ${a!.url}/dashboard; Ctrl-C to stop`)
      await new Promise((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve) })
    }
    return report
  } finally {
    await stopAll()
  }
}
