import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import fastifyStatic from '@fastify/static'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import type { Queryable } from '@federate/db'
import { roleAllows, type ApiKeyAuth } from '../auth/api-key-auth.ts'
import { httpError } from '../errors.ts'
import type { Metrics } from '../metrics.ts'
import { createDashboardFeed } from './feed.ts'
import { createStreamHub } from './streams.ts'
import { createTicketIssuer } from './ticket.ts'

export type { Snapshot, Sample } from './feed.ts'
export type { CampaignRow, DecisionRow, FleetRow, Section } from './snapshot.ts'
export { histogramQuantile } from './metrics-window.ts'

export interface DashboardOptions {
  db: Queryable
  auth: ApiKeyAuth
  metrics: Metrics
  /** Between two reads of PostgreSQL while someone watches (default 2 s). */
  intervalMs?: number
  /** Lifetime of a stream ticket (default 60 s). */
  ticketTtlMs?: number
  /** Comment lines on idle streams (default 15 s). */
  heartbeatMs?: number
}

const PUBLIC_DIR = fileURLToPath(new URL('../../public/', import.meta.url))
// Served from node_modules, never copied into the repository.
const UPLOT_DIST = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist')

// The page loads only its own scripts, styles and API: no inline code, no third parties, no framing.
const HTML_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
}

/**
 * The live dashboard: the page at /dashboard (its files under /dashboard/assets/, uPlot under
 * /dashboard/vendor/), API-key login (POST /api/v1/session), and a snapshot of campaigns, fleet,
 * scaling decisions, calls, cache and step latency, pushed over Server-Sent Events
 * (GET /api/v1/dashboard/stream, opened with a one-time ticket) or read once (GET .../snapshot).
 */
export async function dashboardPlugin (app: FastifyInstance, opts: DashboardOptions): Promise<void> {
  const logger = app.log.child({ module: 'dashboard' })
  const feed = createDashboardFeed({ db: opts.db, registry: opts.metrics.registry, intervalMs: opts.intervalMs, logger })
  const tickets = createTicketIssuer({ ttlMs: opts.ticketTtlMs })
  const hub = createStreamHub({ feed, db: opts.db, logger, heartbeatMs: opts.heartbeatMs })
  const { auth } = opts
  const html = await readFile(join(PUBLIC_DIR, 'index.html'), 'utf8')

  // Before the HTTP server closes: open streams would otherwise keep app.close() waiting.
  app.addHook('preClose', async () => { hub.closeAll() })
  app.addHook('onClose', async () => { await feed.close() })

  await app.register(fastifyStatic, { root: PUBLIC_DIR, prefix: '/dashboard/assets/', decorateReply: false, index: false })
  await app.register(fastifyStatic, { root: UPLOT_DIST, prefix: '/dashboard/vendor/', decorateReply: false, index: false })

  app.get('/dashboard', { schema: { hide: true } }, async (_request, reply) => {
    reply.headers(HTML_HEADERS)
    return html
  })
  app.get('/dashboard/', { schema: { hide: true } }, async (_request, reply) => await reply.redirect('/dashboard'))

  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  r.post('/api/v1/session', {
    preHandler: auth.require('viewer'),
    schema: {
      tags: ['dashboard'],
      summary: 'Check an API key: who it is and what it may do',
      response: { 200: Type.Object({ keyId: Type.String(), name: Type.String(), role: Type.String(), canControlCampaigns: Type.Boolean() }) },
    },
  }, async (request) => {
    const p = request.principal!
    return { keyId: p.keyId, name: p.name, role: p.role, canControlCampaigns: roleAllows(p.role, 'operator') }
  })

  r.post('/api/v1/dashboard/ticket', {
    preHandler: auth.require('viewer'),
    schema: {
      tags: ['dashboard'],
      summary: 'A one-time ticket (valid 60 s) to open the event stream, which cannot send an Authorization header',
      response: { 200: Type.Object({ ticket: Type.String(), expiresAt: Type.String() }) },
    },
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store')
    return tickets.issue(request.principal!)
  })

  r.get('/api/v1/dashboard/stream', {
    // The URL carries the ticket: keep this route out of the request log.
    logLevel: 'warn',
    schema: {
      tags: ['dashboard'],
      summary: 'Server-Sent Events: a `snapshot` event every poll, heartbeats, `logout` when the key is revoked',
      security: [],
      querystring: Type.Object({ ticket: Type.String({ minLength: 1, maxLength: 512 }) }),
    },
  }, async (request, reply) => {
    const holder = tickets.redeem(request.query.ticket)
    if (holder === undefined) throw httpError(401, 'FED_AUTH_TICKET_INVALID', 'the stream ticket is invalid, expired or already used; ask POST /api/v1/dashboard/ticket for a new one')
    if (hub.full) throw httpError(503, 'FED_DASHBOARD_BUSY', 'too many dashboard streams are open on this server')
    reply.hijack()
    hub.open(reply.raw, holder)
  })

  r.get('/api/v1/dashboard/snapshot', {
    preHandler: auth.require('viewer'),
    schema: { tags: ['dashboard'], summary: 'What the dashboard shows, read now (with the plots\' history)' },
  }, async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    return await feed.snapshot()
  })
}
