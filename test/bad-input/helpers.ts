import assert from 'node:assert/strict'
import http from 'node:http'
import type { TestContext } from 'node:test'
import type { RouteOptions } from 'fastify'
import pino, { type Logger } from 'pino'
import type pg from 'pg'
import { loadConfig } from '@federate/config'
import { createApiKey, issueInstanceToken, migrate } from '@federate/db'
import { buildApp, createServerDeps, serverSettings } from '@federate/server'
import { createTestDatabase, suffix } from '@federate/testkit'
import { decodeMethodResponse } from '@federate/xmlrpc'
import type { TestServer } from '../helpers/server.ts'

export interface Answer { status: number, headers: http.IncomingHttpHeaders, text: string, ms: number }

/**
 * One raw HTTP request (node:http, not fetch: a server may answer 413 and close while a large
 * body is still being sent, and the answer is what we want to see).
 */
export async function request (url: string, opts: { method?: string, headers?: Record<string, string>, body?: string | Buffer } = {}): Promise<Answer> {
  const started = performance.now()
  return await new Promise<Answer>((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body)
    const headers: Record<string, string> = { ...opts.headers }
    if (body !== undefined && !Object.keys(headers).some((h) => /^(content-length|transfer-encoding)$/i.test(h))) headers['content-length'] = String(body.length)
    const req = http.request(url, { method: opts.method ?? (body === undefined ? 'GET' : 'POST'), headers, agent: false })
    let answered = false
    req.setTimeout(10_000, () => { req.destroy(new Error(`no answer from ${url} within 10 s`)) })
    req.on('response', (res) => {
      answered = true
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }) })
      res.on('error', reject)
    })
    // EPIPE/ECONNRESET after the server answered early (413) is expected; before, it is a failure.
    req.on('error', (err) => { if (!answered) reject(err) })
    if (body !== undefined) req.write(body, () => {})
    req.end()
  })
}

/** The fault code of an XML-RPC answer, or undefined for a result. Fails on anything else. */
export function faultOf (a: Answer): { code: number, text: string } | undefined {
  assert.equal(a.status, 200, `expected an XML-RPC answer, got HTTP ${a.status}: ${a.text.slice(0, 200)}`)
  const d = decodeMethodResponse(a.text, { maxDepth: 64 })
  return d.ok ? undefined : { code: d.fault.faultCode, text: d.fault.faultString }
}

export const xmlCall = (method: string, params = ''): string =>
  `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${params}</params></methodCall>`

/** An XML-RPC struct from already-encoded member values. */
export const struct = (members: Record<string, string>): string =>
  `<struct>${Object.entries(members).map(([k, v]) => `<member><name>${k}</name><value>${v}</value></member>`).join('')}</struct>`

export const str = (s: string): string => `<string>${s}</string>`

/** call.step as raw XML, with any member replaced (encoded XML values). */
export function stepXml (over: Record<string, string | undefined> = {}): string {
  const members: Record<string, string> = {
    callId: str('c-1'),
    instanceId: str('ast-1'),
    event: str('start'),
    data: struct({}),
    channel: struct({ extension: str('3000') }),
  }
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete members[k]
    else members[k] = v
  }
  return xmlCall('call.step', `<param><value>${struct(members)}</value></param>`)
}

/**
 * Row counts and a digest of the contents of each table (volatile columns left out), to show
 * that refused requests stored nothing.
 */
export async function snapshot (pool: pg.Pool, tables: Record<string, string>): Promise<Record<string, { rows: number, digest: string }>> {
  const out: Record<string, { rows: number, digest: string }> = {}
  for (const [table, columns] of Object.entries(tables)) {
    const { rows } = await pool.query<{ n: number, digest: string }>(
      `SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS digest FROM (SELECT ${columns} FROM ${table}) x`)
    out[table] = { rows: rows[0]!.n, digest: rows[0]!.digest }
  }
  return out
}

/** Everything an operator or an instance can change through the REST API or XML-RPC. */
export const STORED_TABLES: Record<string, string> = {
  flows: '*',
  flow_versions: '*',
  numbers: '*',
  calls: '*',
  call_results: '*',
  api_keys: 'id, name, role, key_hash, revoked_at', // last_used_at moves when a key is used
  instance_tokens: '*',
  campaigns: '*',
  contacts: '*',
  prompts: '*',
  recordings: '*',
}

export interface RoutedServer extends TestServer {
  routes: Array<{ method: string, url: string }>
}

/**
 * Like startTestServer, and also records every route the app registers (through buildApp's
 * onRoute option), so that a test can go through all of them; `logger` replaces the silent one.
 */
export async function startRoutedServer (t: TestContext, env: Record<string, string> = {}, opts: { logger?: Logger } = {}): Promise<RoutedServer> {
  const db = await createTestDatabase('fedsec')
  await migrate(db.url)
  const config = loadConfig(serverSettings, {
    env: { DATABASE_URL: db.url, CACHE_PREFIX: `t${suffix()}`, LOG_LEVEL: 'silent', FEDERATE_DIALER: 'false', FEDERATE_STORAGE: 'false', ...env },
  })
  const logger = opts.logger ?? pino({ level: 'silent' })
  const deps = await createServerDeps(config, logger)
  const routes: RoutedServer['routes'] = []
  const onRoute = (r: RouteOptions): void => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url })
  }
  const app = await buildApp(deps, { ...config, localFlowCache: config.cacheEnabled && config.localFlowCache, logger, onRoute })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await app.close()
    await deps.close()
    await db.drop()
  }
  t.after(close)
  const admin = await createApiKey(deps.pool, 'admin', 'test')
  return {
    url,
    rpcUrl: `${url}/RPC2`,
    databaseUrl: db.url,
    deps,
    adminKey: admin.key,
    tokenFor: async (instanceId) => await issueInstanceToken(deps.pool, instanceId),
    close,
    routes,
  }
}

/** Publishes a flow through the REST API with the admin key; fails the test if refused. */
export async function publish (s: TestServer, id: string, definition: unknown, numbers: string[]): Promise<void> {
  const r = await request(`${s.url}/api/v1/flows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, definition, numbers }),
  })
  assert.equal(r.status, 201, r.text)
}
