import { test } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import { Registry } from 'prom-client'
import { createApiKey, createPool, migrate, type Queryable } from '@federate/db'
import { createTestDatabase, waitFor } from '@federate/testkit'
import { createDashboardFeed, type Snapshot } from '../src/dashboard/feed.ts'
import { histogramQuantile } from '../src/dashboard/metrics-window.ts'
import { createTicketIssuer } from '../src/dashboard/ticket.ts'
import { startTestServer, type TestServer } from '../../../test/helpers/server.ts'

function client (s: TestServer) {
  return async (method: string, path: string, key?: string) => {
    const res = await fetch(`${s.url}${path}`, { method, headers: key ? { authorization: `Bearer ${key}` } : {} })
    const text = await res.text()
    let body: any = text
    try { body = JSON.parse(text) } catch {}
    return { status: res.status, body, headers: res.headers }
  }
}

/** Reads Server-Sent Events from a fetch response, one `{ event, data }` at a time. */
function sseEvents (res: Response) {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  return {
    async next (): Promise<{ event: string, data: any } | null> {
      for (;;) {
        const end = buffer.indexOf('\n\n')
        if (end >= 0) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const lines = block.split('\n')
          if (lines.every((l) => l.startsWith(':'))) continue
          const field = (name: string) => lines.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2)
          return { event: field('event') ?? 'message', data: JSON.parse(field('data') ?? 'null') }
        }
        const { value, done } = await reader.read()
        if (done) return null
        buffer += value
      }
    },
    cancel: async () => { await reader.cancel().catch(() => {}) },
  }
}

async function seed (db: Queryable): Promise<void> {
  await db.query(`INSERT INTO instances (id, state, capacity, active_calls, manifest_version, last_heartbeat_at, terminated_at) VALUES
    ('ast-1', 'ready', 50, 12, 7, now() - interval '2 seconds', NULL),
    ('ast-2', 'booting', 50, 0, 0, NULL, NULL),
    ('ast-3', 'draining', 40, 3, 7, now() - interval '1 second', NULL),
    ('ast-old', 'terminated', 50, 0, 5, now() - interval '2 hours', now() - interval '1 hour')`)
  await db.query("INSERT INTO flows (id, name) VALUES ('poll', 'Poll')")
  await db.query(`INSERT INTO campaigns (id, name, flow_id, caller_id, rate_cps, max_concurrent, retry_policy, status) VALUES
    ('spring', 'Spring poll', 'poll', '+15550001111', 5, 10, '{}', 'running'),
    ('autumn', 'Autumn poll', 'poll', '+15550001111', 2, 4, '{}', 'draft')`)
  await db.query(`INSERT INTO contacts (campaign_id, phone_e164, time_zone, state, attempts) VALUES
    ('spring', '+15550000001', 'UTC', 'done', 1), ('spring', '+15550000002', 'UTC', 'failed', 2),
    ('spring', '+15550000003', 'UTC', 'dialing', 0), ('spring', '+15550000004', 'UTC', 'pending', 0)`)
  await db.query(`INSERT INTO attempts (contact_id, campaign_id, attempt_no, call_id, instance_id, leased_at, lease_expires_at, outcome)
    SELECT id, 'spring', 1, 'dial-' || id, 'ast-1', now(), now() + interval '1 minute',
      CASE phone_e164 WHEN '+15550000001' THEN 'answered' WHEN '+15550000002' THEN 'busy' ELSE NULL END
    FROM contacts`)
  await db.query(`INSERT INTO calls (call_id, instance_id, direction, campaign_id, status, started_at, ended_at) VALUES
    ('c1', 'ast-1', 'outbound', 'spring', 'active', now() - interval '2 seconds', NULL),
    ('c2', 'ast-1', 'outbound', 'spring', 'active', now() - interval '30 seconds', NULL),
    ('c3', 'ast-1', 'inbound', NULL, 'active', now() - interval '1 second', NULL),
    ('c4', 'ast-3', 'inbound', NULL, 'ended', now() - interval '40 seconds', now() - interval '5 seconds'),
    ('c5', 'ast-3', 'inbound', NULL, 'ended', now() - interval '3 hours', now() - interval '2 hours')`)
}

test('stream tickets are signed, single-use, bound to their role and expire', () => {
  let now = 1_000_000
  const tickets = createTicketIssuer({ ttlMs: 60_000, now: () => now })
  const a = tickets.issue({ keyId: '0123456789abcdef', role: 'viewer' })
  assert.deepEqual(tickets.redeem(a.ticket), { keyId: '0123456789abcdef', role: 'viewer' })
  assert.equal(tickets.redeem(a.ticket), undefined, 'a ticket opens one stream only')

  const b = tickets.issue({ keyId: '0123456789abcdef', role: 'viewer' })
  assert.equal(tickets.redeem(b.ticket.replace('.viewer.', '.admin.')), undefined, 'the role cannot be changed')
  assert.equal(tickets.redeem(b.ticket.slice(0, -2) + 'xx'), undefined, 'the signature is checked')
  assert.equal(tickets.redeem('garbage'), undefined)
  assert.equal(tickets.redeem(''), undefined)
  assert.equal(createTicketIssuer().redeem(b.ticket), undefined, 'another process\'s secret does not verify it')
  now += 60_000
  assert.equal(tickets.redeem(b.ticket), undefined, 'a ticket expires after its ttl')
  const c = tickets.issue({ keyId: '0123456789abcdef', role: 'operator' })
  now += 59_000
  assert.equal(tickets.redeem(c.ticket)?.role, 'operator')
})

test('latency quantiles come from histogram buckets like Prometheus computes them', () => {
  const buckets: Array<[number, number]> = [[0.001, 50], [0.005, 90], [0.01, 100], [Infinity, 100]]
  assert.equal(histogramQuantile(0.5, buckets), 0.001)
  assert.ok(Math.abs(histogramQuantile(0.7, buckets)! - 0.003) < 1e-12, 'interpolated inside its bucket')
  assert.ok(Math.abs(histogramQuantile(0.99, buckets)! - 0.0095) < 1e-12)
  assert.equal(histogramQuantile(0.99, [[0.01, 0], [Infinity, 10]]), 0.01, '+Inf answers the highest finite bound')
  assert.equal(histogramQuantile(0.5, [[0.01, 0], [Infinity, 0]]), null, 'no observations, no quantile')
  assert.equal(histogramQuantile(0.5, []), null)
})

test('the dashboard signs in with an API key, refuses bad ones and serves its page and chart library', async (t) => {
  const s = await startTestServer(t)
  const api = client(s)
  const viewer = await createApiKey(s.deps.pool, 'viewer', 'wall screen')

  const admin = await api('POST', '/api/v1/session', s.adminKey)
  assert.equal(admin.status, 200)
  assert.equal(admin.body.role, 'admin')
  assert.equal(admin.body.canControlCampaigns, true)
  const v = await api('POST', '/api/v1/session', viewer.key)
  assert.deepEqual(v.body, { keyId: viewer.id, name: 'wall screen', role: 'viewer', canControlCampaigns: false })
  assert.equal((await api('POST', '/api/v1/session')).status, 401)
  const bad = await api('POST', '/api/v1/session', 'fed_not_a_real_key')
  assert.equal(bad.status, 401)
  assert.equal(bad.body.code, 'FED_AUTH_INVALID')

  const page = await api('GET', '/dashboard')
  assert.equal(page.status, 200)
  assert.match(page.headers.get('content-type')!, /text\/html/)
  assert.match(page.headers.get('content-security-policy')!, /script-src 'self'/)
  assert.match(page.body, /<script type="module" src="\/dashboard\/assets\/app.js">/)
  assert.equal((await api('GET', '/dashboard/')).status, 200, 'the trailing slash redirects to the page')
  for (const path of ['/dashboard/assets/app.js', '/dashboard/assets/style.css', '/dashboard/vendor/uPlot.esm.js', '/dashboard/vendor/uPlot.min.css']) {
    const res = await api('GET', path)
    assert.equal(res.status, 200, path)
  }
  assert.match((await api('GET', '/dashboard/vendor/uPlot.esm.js')).headers.get('content-type')!, /javascript/)
  assert.equal((await fetch(`${s.url}/dashboard/assets/..%2F..%2Fsrc%2Fapp.ts`)).status, 404, 'no path out of public/')
  assert.equal((await api('GET', '/dashboard/assets/missing.js')).status, 404)
})

test('the snapshot shows the instances, calls, campaigns and metrics of this server, and empty sections for missing tables', async (t) => {
  const s = await startTestServer(t)
  const api = client(s)
  const viewer = (await createApiKey(s.deps.pool, 'viewer', 'v')).key
  await seed(s.deps.pool)
  for (const ms of [0.8, 1.2, 1.5, 2, 40]) s.deps.metrics.rpcDuration.observe({ method: 'call.step', outcome: 'ok' }, ms / 1000)
  s.deps.metrics.rpcDuration.observe({ method: 'call.end', outcome: 'ok' }, 0.5)

  assert.equal((await api('GET', '/api/v1/dashboard/snapshot')).status, 401)
  const { status, body } = await api('GET', '/api/v1/dashboard/snapshot', viewer)
  assert.equal(status, 200)
  const snap = body as Snapshot

  assert.deepEqual(snap.fleet.rows.map((i) => [i.id, i.state, i.activeCalls, i.capacity]),
    [['ast-1', 'ready', 12, 50], ['ast-2', 'booting', 0, 50], ['ast-3', 'draining', 3, 40]], 'long-terminated instances are left out')
  const a1 = snap.fleet.rows[0]!
  assert.equal(a1.manifestVersion, 7)
  assert.ok(a1.heartbeatAgeSec! >= 1 && a1.heartbeatAgeSec! < 30, `heartbeat age ${a1.heartbeatAgeSec}`)
  assert.equal(snap.fleet.rows[1]!.heartbeatAgeSec, null)
  assert.deepEqual(snap.sample.instances, { ready: 1, starting: 1, draining: 1 })
  assert.equal(snap.sample.capacity, 50)

  assert.equal(snap.calls.active, 3)
  assert.equal(snap.calls.cps, 0.2, 'two calls started in the last 10 s')
  assert.equal(snap.calls.endedLastMinute, 1)
  assert.deepEqual(snap.callsByCampaign.spring, { concurrent: 2, cps: 0.1 })

  assert.equal(snap.campaigns.available, true)
  assert.deepEqual(snap.campaigns.rows.map((c) => c.id), ['spring', 'autumn'], 'running campaigns first')
  const spring = snap.campaigns.rows[0]!
  assert.equal(spring.name, 'Spring poll')
  assert.equal(spring.rateCps, 5)
  assert.deepEqual(spring.contacts, { done: 1, failed: 1, dialing: 1, pending: 1 })
  assert.deepEqual(spring.outcomes, { answered: 1, busy: 1 })
  assert.equal(spring.progress, 0.5)
  assert.equal(spring.concurrent, 2)
  assert.equal(snap.campaigns.rows[1]!.progress, null, 'a campaign without contacts has no progress')

  assert.equal(snap.metrics.steps.count, 5, 'only call.step counts as a step')
  assert.ok(snap.metrics.steps.p50Ms! > 1 && snap.metrics.steps.p50Ms! <= 2.5, `p50 ${snap.metrics.steps.p50Ms}`)
  assert.ok(snap.metrics.steps.p99Ms! > 25 && snap.metrics.steps.p99Ms! <= 50, `p99 ${snap.metrics.steps.p99Ms}`)
  assert.ok(Array.isArray(snap.history))

  // The controller's decisions, newest first, with their reasons.
  assert.deepEqual(snap.decisions, { available: true, rows: [] })
  await s.deps.pool.query(`INSERT INTO scaling_decisions (at, controller_id, action, code, observed, desired, load, instance_ids, reason) VALUES
    (now() - interval '1 minute', 'ctl-1', 'hold', 'steady', 2, 2, 60, '{}', 'old'),
    (now(), 'ctl-1', 'scale_out', 'load_up', 2, 3, 120, '{ast-5}', 'load 120 calls needs 3; have 2: launch 1')`)
  const later = (await api('GET', '/api/v1/dashboard/snapshot', viewer)).body as Snapshot
  assert.deepEqual(later.decisions.rows.map((d) => [d.action, d.code, d.observed, d.desired, d.load, d.instanceIds, d.reason]),
    [['scale_out', 'load_up', 2, 3, 120, ['ast-5'], 'load 120 calls needs 3; have 2: launch 1'], ['hold', 'steady', 2, 2, 60, [], 'old']])

  // A database without the dialer's tables still has a dashboard.
  await s.deps.pool.query('DROP TABLE attempts, contacts, campaigns, scaling_decisions CASCADE')
  const without = await api('GET', '/api/v1/dashboard/snapshot', viewer)
  assert.equal(without.status, 200)
  assert.deepEqual(without.body.campaigns, { available: false, rows: [] })
  assert.deepEqual(without.body.decisions, { available: false, rows: [] })
  assert.equal(without.body.fleet.rows.length, 3)
})

test('the event stream needs a ticket, pushes snapshots, ends on key revocation and does not hold up server close', async (t) => {
  const s = await startTestServer(t)
  const api = client(s)
  const viewer = await createApiKey(s.deps.pool, 'viewer', 'v')
  await seed(s.deps.pool)

  assert.equal((await api('POST', '/api/v1/dashboard/ticket')).status, 401)
  assert.equal((await api('GET', '/api/v1/dashboard/stream')).status, 400)
  const forged = await api('GET', '/api/v1/dashboard/stream?ticket=0123456789abcdef.admin.99999999999999.x.y')
  assert.equal(forged.status, 401)
  assert.equal(forged.body.code, 'FED_AUTH_TICKET_INVALID')

  const open = async (key: string) => {
    const issued = await api('POST', '/api/v1/dashboard/ticket', key)
    assert.equal(issued.status, 200)
    assert.equal(issued.headers.get('cache-control'), 'no-store')
    const ms = Date.parse(issued.body.expiresAt) - Date.now()
    assert.ok(ms > 50_000 && ms <= 60_000, `valid for about 60 s, got ${ms} ms`)
    const res = await fetch(`${s.url}/api/v1/dashboard/stream?ticket=${encodeURIComponent(issued.body.ticket)}`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/)
    return { ticket: issued.body.ticket as string, events: sseEvents(res) }
  }

  const first = await open(viewer.key)
  const e1 = await first.events.next()
  assert.equal(e1?.event, 'snapshot')
  assert.deepEqual(e1.data.fleet.rows.map((i: { id: string }) => i.id), ['ast-1', 'ast-2', 'ast-3'])
  assert.equal(e1.data.calls.active, 3)
  assert.ok(Array.isArray(e1.data.history) && e1.data.history.length >= 1, 'the first event carries the plots\' history')
  assert.equal((await api('GET', `/api/v1/dashboard/stream?ticket=${encodeURIComponent(first.ticket)}`)).status, 401, 'a used ticket is refused')

  // A new row shows up in the next snapshots; later events carry no history.
  await s.deps.pool.query("INSERT INTO instances (id, state, capacity) VALUES ('ast-4', 'syncing', 50)")
  const e2 = await waitFor(async () => {
    const e = await first.events.next()
    return e?.data.fleet.rows.some((i: { id: string }) => i.id === 'ast-4') ? e : null
  }, { timeoutMs: 8000, what: 'a snapshot with ast-4' })
  assert.equal(e2.data.history, undefined)

  // Revoking the key ends its stream.
  const admin = await createApiKey(s.deps.pool, 'viewer', 'to revoke')
  const doomed = await open(admin.key)
  assert.equal((await doomed.events.next())?.event, 'snapshot')
  assert.equal((await api('DELETE', `/api/v1/keys/${admin.id}`, s.adminKey)).status, 204)
  const last = await waitFor(async () => {
    const e = await doomed.events.next()
    return e === null || e.event === 'logout' ? { e } : null
  }, { timeoutMs: 10_000, what: 'the revoked key\'s stream to end' })
  assert.equal(last.e?.event, 'logout')
  assert.equal(await doomed.events.next(), null, 'the stream ends after logout')

  // Closing the server with a stream open: the stream ends and close() does not wait for it.
  const started = Date.now()
  await Promise.race([
    s.close(),
    new Promise((_resolve, reject) => setTimeout(() => { reject(new Error('close() hung with an open stream')) }, 5000).unref()),
  ])
  assert.ok(Date.now() - started < 5000)
  let end: unknown
  while ((end = await first.events.next()) !== null) assert.equal((end as { event: string }).event, 'snapshot')
})

test('one polling loop serves every listener and stops when the last one leaves', async (t) => {
  const db = await createTestDatabase('feddash')
  t.after(async () => { await db.drop() })
  await migrate(db.url)
  const pool = createPool(db.url, { max: 2 })
  t.after(async () => { await pool.close() })
  // Counts the queries that reach PostgreSQL (a real pool underneath).
  let queries = 0
  const counted = { query: ((...args: Parameters<typeof pool.query>) => { queries++; return pool.query(...args) }) as typeof pool.query }
  const feed = createDashboardFeed({ db: counted, registry: new Registry(), intervalMs: 100, logger: pino({ level: 'silent' }) })
  t.after(async () => { await feed.close() })

  await new Promise((resolve) => setTimeout(resolve, 250))
  assert.equal(queries, 0, 'nobody watches: nothing is read')

  const a: Snapshot[] = []
  const b: Snapshot[] = []
  const offA = feed.subscribe((x) => a.push(x))
  const offB = feed.subscribe((x) => b.push(x))
  await waitFor(() => a.length >= 3 && b.length >= 3, { timeoutMs: 3000, what: 'three snapshots' })
  assert.equal(a[0], b[0], 'both listeners get the same snapshot from one read')
  assert.ok(a.length - b.length <= 1)
  const gaps = a.slice(1).map((x, i) => Date.parse(x.at) - Date.parse(a[i]!.at))
  assert.ok(gaps.every((g) => g >= 90), `reads are paced, gaps ${gaps.join(',')}`)
  offA()
  offB()
  // A read in flight when the last listener left may still finish; after that, nothing.
  await new Promise((resolve) => setTimeout(resolve, 150))
  const after = queries
  await new Promise((resolve) => setTimeout(resolve, 300))
  assert.equal(queries, after, 'the loop stopped with its last listener')
  assert.ok(feed.history().length >= 3)
})
