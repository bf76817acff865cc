import { PassThrough, Readable } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import Type from 'typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import {
  CAMPAIGN_STATUSES, CampaignInputSchema, CampaignUpdateSchema, DialerError,
  type BadRow, type Campaign, type Dialer, type DialerErrorCode,
} from '@federate/dialer'
import type { ApiKeyAuth } from '../auth/api-key-auth.ts'
import { HttpError, httpError } from '../errors.ts'

export interface CampaignRoutesOptions {
  auth: ApiKeyAuth
  /** The campaign dialer; absent (FEDERATE_DIALER=false): every route answers 503. */
  dialer?: Dialer
  /** Largest CSV upload in bytes (default 512 MiB); the body is streamed, never buffered. */
  csvBodyLimit?: number
}

/** Bad rows listed in an import's answer; the rest are only counted (badCount). */
export const MAX_LISTED_BAD_ROWS = 1000
export const DEFAULT_CSV_BODY_LIMIT = 512 * 1024 * 1024

const HTTP_OF_DIALER: Record<DialerErrorCode, number> = {
  FED_DIALER_INVALID_INPUT: 400,
  FED_DIALER_NOT_FOUND: 404,
  FED_DIALER_FLOW_NOT_FOUND: 422,
  FED_DIALER_BAD_STATE: 409,
  FED_DIALER_BAD_CSV: 400,
  FED_DIALER_UNAVAILABLE: 503,
  FED_DIALER_CLOSED: 503,
}

/** A DialerError as a REST error with the same code and a message that says what to do. */
function httpOf (err: unknown): unknown {
  // A CSV body that broke the upload limit surfaces through the CSV reader: answer the limit.
  if (err instanceof DialerError && err.cause instanceof HttpError) return err.cause
  if (!(err instanceof DialerError)) return err
  let status = HTTP_OF_DIALER[err.code]
  let message = err.message
  if (err.code === 'FED_DIALER_INVALID_INPUT' && /already exists/.test(err.message)) status = 409
  if (err.code === 'FED_DIALER_FLOW_NOT_FOUND') message += ': publish it first (POST /api/v1/flows or `federate flows push`)'
  return httpError(status, err.code, message, { cause: err })
}

async function mapped<T> (fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw httpOf(err)
  }
}

/** An import from a CSV body; when it was too large the rest is not read: the connection closes. */
async function csvImport<T> (reply: FastifyReply, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    const mappedErr = httpOf(err)
    if (mappedErr instanceof HttpError && mappedErr.statusCode === 413) reply.header('connection', 'close')
    throw mappedErr
  }
}

const CampaignId = Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' })
const IdParams = Type.Object({ id: CampaignId })
const Window = Type.Object({ start: Type.String(), end: Type.String(), days: Type.Optional(Type.Array(Type.Integer())) })
const CampaignOut = Type.Object({
  id: Type.String(),
  name: Type.String(),
  flowId: Type.String(),
  flowVersion: Type.Union([Type.Integer(), Type.Null()]),
  callerId: Type.String(),
  rateCps: Type.Number(),
  maxConcurrent: Type.Integer(),
  ringTimeoutSec: Type.Integer(),
  window: Window,
  retryPolicy: Type.Unknown(),
  maxAttempts: Type.Integer(),
  status: Type.String(),
  createdAt: Type.String(),
  startedAt: Type.Union([Type.String(), Type.Null()]),
  stoppedAt: Type.Union([Type.String(), Type.Null()]),
  completedAt: Type.Union([Type.String(), Type.Null()]),
})
const Counts = Type.Record(Type.String(), Type.Number())
const StatsOut = Type.Object({
  campaignId: Type.String(),
  status: Type.String(),
  contacts: Counts,
  attempts: Type.Integer({ description: 'every attempt: dialled + expired (never dialled) + open' }),
  dialled: Type.Integer(),
  expired: Type.Integer(),
  open: Type.Integer(),
  outcomes: Counts,
  answerRate: Type.Number({ description: 'answered / dialled' }),
  cps: Type.Number({ description: 'calls leased per second over the last windowSec' }),
  windowSec: Type.Integer(),
  concurrent: Type.Integer({ description: 'calls leased or dialling now' }),
  results: Type.Array(Type.Object({ node: Type.String(), key: Type.String(), value: Type.String(), count: Type.Integer() }),
    { description: 'poll answers: how many calls gave each value for each key' }),
})
const BadRowOut = Type.Object({ line: Type.Integer(), reason: Type.String() })
const ImportOut = Type.Object({
  imported: Type.Integer(),
  duplicates: Type.Integer(),
  dnc: Type.Integer(),
  bad: Type.Array(BadRowOut, { description: `the first ${MAX_LISTED_BAD_ROWS} bad rows (the header is line 1)` }),
  badCount: Type.Integer(),
})
const DncOut = Type.Object({ added: Type.Integer(), duplicates: Type.Integer(), bad: Type.Array(BadRowOut), badCount: Type.Integer() })
const Caps = Type.Object({ maxConcurrent: Type.Union([Type.Integer(), Type.Null()]), maxCps: Type.Union([Type.Number(), Type.Null()]) })
const CsvQuery = Type.Object({
  defaultCountry: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2}$', description: 'ISO alpha-2 country for numbers without a country code' })),
  defaultTimeZone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'zone for numbers whose prefix maps to none (default UTC)' })),
}, { additionalProperties: false })
const CSV_BODY = 'text/csv'

function iso (d: Date | null): string | null {
  return d === null ? null : d.toISOString()
}

export function campaignOut (c: Campaign) {
  return { ...c, createdAt: c.createdAt.toISOString(), startedAt: iso(c.startedAt), stoppedAt: iso(c.stoppedAt), completedAt: iso(c.completedAt) }
}

/**
 * The dialer's bad-row list (capped at MAX_LISTED_BAD_ROWS) and the total count. The dialer
 * ends an overflowing list with a `{ line: 0, reason: 'N more bad rows not listed' }` marker.
 */
export function splitBadRows (bad: BadRow[]): { bad: BadRow[], badCount: number } {
  const last = bad[bad.length - 1]
  const more = last?.line === 0 ? /^(\d+) more bad rows not listed$/.exec(last.reason) : null
  const listed = more ? bad.slice(0, -1) : bad
  return { bad: listed, badCount: listed.length + (more ? Number(more[1]) : 0) }
}

/**
 * The body as a stream that fails with 413 past `limit` bytes. Fastify enforces bodyLimit only
 * for its buffering parsers (parseAs), so a streamed body is counted here. It is pulled, not
 * pushed: nothing is read (or can fail) before the importer listens, and the importer reads
 * only as fast as PostgreSQL takes the rows, so backpressure reaches the client's socket.
 */
function limitedBody (payload: Readable, limit: number): Readable {
  async function * counted () {
    let seen = 0
    for await (const chunk of payload as AsyncIterable<Buffer>) {
      seen += chunk.length
      if (seen > limit) throw tooLarge(limit)
      yield chunk
    }
  }
  return Readable.from(counted(), { objectMode: false })
}

function tooLarge (limit: number, declared?: number): Error {
  return httpError(413, 'FED_API_TOO_LARGE',
    `the CSV is ${declared === undefined ? 'larger than' : `${declared} bytes;`} ${declared === undefined ? '' : 'at most '}${limit} bytes (FEDERATE_CSV_BODY_LIMIT): ` +
    'split it, or import it with `federate contacts import`')
}

/**
 * Campaigns over the dialer: /api/v1/campaigns (CRUD, lifecycle, contacts CSV, stats, export),
 * /api/v1/dnc and /api/v1/dialer/caps. CSV bodies are streams into the dialer's importer, so
 * a large file never sits in memory; FEDERATE_CSV_BODY_LIMIT bounds them.
 */
export async function campaignRoutes (app: FastifyInstance, opts: CampaignRoutesOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const { auth } = opts
  const csvLimit = opts.csvBodyLimit ?? DEFAULT_CSV_BODY_LIMIT

  const dialer = (): Dialer => {
    if (!opts.dialer) {
      throw httpError(503, 'FED_API_DIALER_DISABLED',
        'the campaign dialer is off on this server (FEDERATE_DIALER=false): turn it on (it needs Redis at REDIS_URL) and restart')
    }
    return opts.dialer
  }
  // Role first (401/403), then the dialer's presence (503), both before any body is read.
  const guard = (role: 'viewer' | 'operator' | 'admin') => {
    const check = auth.require(role)
    return async (request: FastifyRequest, reply: FastifyReply) => {
      await check(request, reply)
      dialer()
    }
  }

  // CSV bodies stay streams (scoped to these routes); the limit is checked by content-length
  // up front and by counting bytes as they arrive.
  app.addContentTypeParser(CSV_BODY, (request, payload, done) => {
    const limit = request.routeOptions.bodyLimit ?? csvLimit
    const declared = Number(request.headers['content-length'])
    if (declared > limit) done(tooLarge(limit, declared))
    else done(null, limitedBody(payload, limit))
  })
  const csvRoute = { bodyLimit: csvLimit }
  const csvBody = (request: FastifyRequest): Readable => {
    const body = request.body as Readable | undefined
    if (!body || typeof body.pipe !== 'function') {
      throw httpError(415, 'FED_API_CSV_EXPECTED', 'send the file as the body with Content-Type: text/csv (e.g. curl --data-binary @contacts.csv -H "content-type: text/csv")')
    }
    return body
  }

  r.post('/campaigns', {
    onRequest: guard('operator'),
    schema: { tags: ['campaigns'], summary: 'Create a draft campaign', body: CampaignInputSchema, response: { 201: CampaignOut } },
  }, async (request, reply) => {
    const c = await mapped(async () => await dialer().create(request.body))
    reply.code(201)
    return campaignOut(c)
  })

  r.get('/campaigns', {
    onRequest: guard('viewer'),
    schema: {
      tags: ['campaigns'],
      summary: 'List campaigns, optionally by status',
      querystring: Type.Object({ status: Type.Optional(Type.Union(CAMPAIGN_STATUSES.map((s) => Type.Literal(s)))) }, { additionalProperties: false }),
      response: { 200: Type.Array(CampaignOut) },
    },
  }, async (request) => (await mapped(async () => await dialer().list({ status: request.query.status }))).map(campaignOut))

  r.get('/campaigns/:id', {
    onRequest: guard('viewer'),
    schema: {
      tags: ['campaigns'],
      summary: 'A campaign with its stats',
      params: IdParams,
      response: { 200: Type.Intersect([CampaignOut, Type.Object({ stats: StatsOut })]) },
    },
  }, async (request) => {
    const d = dialer()
    const c = await mapped(async () => await d.get(request.params.id))
    const stats = await mapped(async () => await d.stats(c.id))
    return { ...campaignOut(c), stats }
  })

  r.patch('/campaigns/:id', {
    onRequest: guard('operator'),
    schema: {
      tags: ['campaigns'],
      summary: 'Change rate, caps, window, retry policy or names (applies from the next dispatcher pass)',
      params: IdParams,
      body: CampaignUpdateSchema,
      response: { 200: CampaignOut },
    },
  }, async (request) => campaignOut(await mapped(async () => await dialer().update(request.params.id, request.body))))

  for (const action of ['start', 'pause', 'resume', 'stop'] as const) {
    r.post(`/campaigns/:id/${action}`, {
      onRequest: guard('operator'),
      schema: {
        tags: ['campaigns'],
        summary: {
          start: 'Start a draft campaign (pins the flow\'s latest version unless one was given)',
          pause: 'Pause a running campaign (calls in progress finish)',
          resume: 'Resume a paused campaign',
          stop: 'Stop a campaign for good (calls in progress finish)',
        }[action],
        params: IdParams,
        response: { 200: CampaignOut },
      },
    }, async (request) => campaignOut(await mapped(async () => await dialer()[action](request.params.id))))
  }

  r.post('/campaigns/:id/contacts', {
    ...csvRoute,
    onRequest: guard('operator'),
    schema: {
      tags: ['campaigns'],
      summary: 'Import contacts from a CSV body (text/csv, streamed); duplicates and do-not-call numbers are dropped, bad rows reported by line',
      params: IdParams,
      querystring: CsvQuery,
      response: { 200: ImportOut },
    },
  }, async (request, reply) => {
    const input = csvBody(request)
    const res = await csvImport(reply, async () => await dialer().importContacts(request.params.id, input, {
      defaultCountry: request.query.defaultCountry?.toUpperCase(),
      defaultTimeZone: request.query.defaultTimeZone,
      maxBadRows: MAX_LISTED_BAD_ROWS,
    }))
    return { imported: res.imported, duplicates: res.duplicates, dnc: res.dnc, ...splitBadRows(res.bad) }
  })

  r.post('/dnc', {
    ...csvRoute,
    onRequest: guard('operator'),
    schema: {
      tags: ['campaigns'],
      summary: 'Add numbers to the do-not-call list (text/csv with a phone column, or one number per line)',
      querystring: Type.Object({
        defaultCountry: CsvQuery.properties.defaultCountry,
        source: Type.Optional(Type.String({ maxLength: 200, description: 'where the list came from' })),
      }, { additionalProperties: false }),
      response: { 200: DncOut },
    },
  }, async (request, reply) => {
    const input = csvBody(request)
    const res = await csvImport(reply, async () => await dialer().importDnc(input, {
      defaultCountry: request.query.defaultCountry?.toUpperCase(),
      source: request.query.source,
      maxBadRows: MAX_LISTED_BAD_ROWS,
    }))
    return { added: res.added, duplicates: res.duplicates, ...splitBadRows(res.bad) }
  })

  r.get('/campaigns/:id/stats', {
    onRequest: guard('viewer'),
    schema: {
      tags: ['campaigns'],
      summary: 'Attempts, outcomes, answer rate, poll results, achieved calls per second, concurrent calls',
      params: IdParams,
      querystring: Type.Object({ windowSec: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400 })) }, { additionalProperties: false }),
      response: { 200: StatsOut },
    },
  }, async (request) => await mapped(async () => await dialer().stats(request.params.id, { windowSec: request.query.windowSec })))

  r.get('/campaigns/:id/export', {
    onRequest: guard('viewer'),
    schema: { tags: ['campaigns'], summary: 'Every attempt and its results as CSV (streamed)', params: IdParams },
  }, async (request, reply) => {
    const d = dialer()
    const c = await mapped(async () => await d.get(request.params.id))
    const out = new PassThrough()
    // A client that goes away stops the export (the error makes the writer's drain wait end).
    out.on('error', () => {})
    reply.raw.on('close', () => { if (!out.writableFinished) out.destroy(new Error('the client closed the export')) })
    d.exportCsv(c.id, out).catch((err: unknown) => {
      request.log.warn({ err, campaignId: c.id }, 'campaign export failed')
      out.destroy(err as Error)
    })
    reply.header('content-type', 'text/csv; charset=utf-8')
    reply.header('content-disposition', `attachment; filename="campaign-${c.id}.csv"`)
    return reply.send(out)
  })

  r.get('/dialer/caps', {
    onRequest: guard('viewer'),
    schema: { tags: ['campaigns'], summary: 'Global caps across all campaigns (null: none)', response: { 200: Caps } },
  }, async () => await mapped(async () => await dialer().getGlobalCaps()))

  r.put('/dialer/caps', {
    onRequest: guard('admin'),
    schema: {
      tags: ['campaigns'],
      summary: 'Set global caps: maxConcurrent calls and maxCps across running campaigns (null removes a cap; omitted: unchanged)',
      body: Type.Object({
        maxConcurrent: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
        maxCps: Type.Optional(Type.Union([Type.Number({ exclusiveMinimum: 0 }), Type.Null()])),
      }, { additionalProperties: false }),
      response: { 200: Caps },
    },
  }, async (request) => await mapped(async () => await dialer().setGlobalCaps(request.body)))
}
