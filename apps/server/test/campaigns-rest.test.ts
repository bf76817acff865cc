import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { createApiKey } from '@federate/db'
import { suffix } from '@federate/testkit'
import { startTestServer, type TestServer } from '../../../test/helpers/server.ts'

const poll = JSON.parse(await readFile(new URL('../../../examples/flows/poll.json', import.meta.url), 'utf8'))

// A server with the dialer on and its own Redis key prefix.
async function dialerServer (t: Parameters<typeof startTestServer>[0], env: Record<string, string> = {}) {
  return await startTestServer(t, { FEDERATE_DIALER: 'true', DIALER_PREFIX: `t${suffix()}`, ...env })
}

function client (s: TestServer) {
  return async (method: string, path: string, key: string | undefined, body?: unknown, type = 'application/json') => {
    const res = await fetch(`${s.url}/api/v1${path}`, {
      method,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': type } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
    const text = await res.text()
    let parsed: any = text
    try { parsed = text ? JSON.parse(text) : null } catch {}
    return { status: res.status, body: parsed, headers: res.headers }
  }
}

const campaign = {
  id: 'spring',
  name: 'Spring poll',
  flowId: 'poll',
  callerId: '+15550001111',
  rateCps: 5,
  maxConcurrent: 10,
  window: { start: '00:00', end: '24:00' },
  retryPolicy: { busy: { retry: true, delaySec: 300 } },
  maxAttempts: 2,
}

test('operators create and drive campaigns through REST while viewers only read, with 400/404/409/422 for bad requests', async (t) => {
  const s = await dialerServer(t)
  const api = client(s)
  const viewer = (await createApiKey(s.deps.pool, 'viewer', 'v')).key
  const operator = (await createApiKey(s.deps.pool, 'operator', 'o')).key
  assert.equal((await api('POST', '/flows', operator, { id: 'poll', definition: poll })).status, 201)

  assert.equal((await api('POST', '/campaigns', undefined, campaign)).status, 401)
  assert.equal((await api('POST', '/campaigns', viewer, campaign)).status, 403)
  const created = await api('POST', '/campaigns', operator, campaign)
  assert.equal(created.status, 201, JSON.stringify(created.body))
  assert.equal(created.body.status, 'draft')
  assert.equal(created.body.rateCps, 5)
  assert.equal(created.body.flowVersion, null)
  assert.match(created.body.createdAt, /^\d{4}-\d\d-\d\dT/)
  assert.equal(created.body.retryPolicy.busy.delaySec, 300)

  // Bad bodies: schema (400), a duplicate id (409), an unknown flow (422 saying what to do).
  assert.equal((await api('POST', '/campaigns', operator, { ...campaign, id: 'x', rateCps: 0 })).status, 400)
  assert.equal((await api('POST', '/campaigns', operator, { ...campaign, id: 'x', admin: true })).status, 400)
  const badWindow = await api('POST', '/campaigns', operator, { ...campaign, id: 'x', window: { start: '9am', end: '21:00' } })
  assert.equal(badWindow.status, 400)
  assert.equal(badWindow.body.code, 'FED_DIALER_INVALID_INPUT')
  assert.match(badWindow.body.message, /HH:MM/)
  const dup = await api('POST', '/campaigns', operator, campaign)
  assert.equal(dup.status, 409)
  const noFlow = await api('POST', '/campaigns', operator, { ...campaign, id: 'x', flowId: 'nope' })
  assert.equal(noFlow.status, 422)
  assert.equal(noFlow.body.code, 'FED_DIALER_FLOW_NOT_FOUND')
  assert.match(noFlow.body.message, /nope.*federate flows push/)

  assert.equal((await api('GET', '/campaigns/missing', viewer)).status, 404)
  assert.equal((await api('POST', '/campaigns/missing/start', operator)).status, 404)
  assert.equal((await api('GET', '/campaigns/missing/stats', viewer)).status, 404)
  assert.equal((await api('GET', '/campaigns/missing/export', viewer)).status, 404)
  assert.equal((await api('POST', '/campaigns/spring/pause', operator)).status, 409, 'a draft cannot be paused')

  // Lifecycle with roles. One contact keeps the campaign from completing at once (nothing to dial).
  assert.equal((await api('POST', '/campaigns/spring/contacts', operator, 'phone\n+12125550101\n', 'text/csv')).body.imported, 1)
  assert.equal((await api('POST', '/campaigns/spring/start', viewer)).status, 403)
  const started = await api('POST', '/campaigns/spring/start', operator)
  assert.equal(started.status, 200)
  assert.equal(started.body.status, 'running')
  assert.equal(started.body.flowVersion, 1, 'start pins the latest version')
  assert.equal((await api('POST', '/campaigns/spring/start', operator)).body.status, 'running', 'asking again is a no-op')
  const paused = await api('POST', '/campaigns/spring/pause', operator)
  assert.equal(paused.body.status, 'paused', JSON.stringify(paused.body))
  assert.equal((await api('GET', '/campaigns?status=paused', viewer)).body.length, 1)
  assert.equal((await api('GET', '/campaigns?status=running', viewer)).body.length, 0)
  assert.equal((await api('GET', '/campaigns?status=sleeping', viewer)).status, 400)
  assert.equal((await api('POST', '/campaigns/spring/resume', operator)).body.status, 'running')

  const patched = await api('PATCH', '/campaigns/spring', operator, { rateCps: 2.5, name: 'Spring poll 2' })
  assert.equal(patched.status, 200)
  assert.equal(patched.body.rateCps, 2.5)
  assert.equal((await api('PATCH', '/campaigns/spring', operator, { flowId: 'other' })).status, 400, 'the flow is fixed at creation')
  assert.equal((await api('PATCH', '/campaigns/spring', viewer, { rateCps: 1 })).status, 403)

  const one = await api('GET', '/campaigns/spring', viewer)
  assert.equal(one.status, 200)
  assert.equal(one.body.name, 'Spring poll 2')
  assert.equal(one.body.stats.campaignId, 'spring')
  assert.equal(one.body.stats.attempts, 0)

  assert.equal((await api('POST', '/campaigns/spring/stop', viewer)).status, 403)
  assert.equal((await api('POST', '/campaigns/spring/stop', operator)).body.status, 'stopped')
  const restart = await api('POST', '/campaigns/spring/start', operator)
  assert.equal(restart.status, 409)
  assert.equal(restart.body.code, 'FED_DIALER_BAD_STATE')
  assert.equal((await api('POST', '/campaigns/spring/resume', operator)).status, 409)
  assert.equal((await api('PATCH', '/campaigns/spring', operator, { rateCps: 1 })).status, 409)
  const late = await api('POST', '/campaigns/spring/contacts', operator, 'phone\n+12125550109\n', 'text/csv')
  assert.equal(late.status, 409, 'a stopped campaign takes no contacts')

  // Global caps: everyone reads, only the admin writes.
  assert.deepEqual((await api('GET', '/dialer/caps', viewer)).body, { maxConcurrent: null, maxCps: null })
  assert.equal((await api('PUT', '/dialer/caps', operator, { maxCps: 100 })).status, 403)
  assert.deepEqual((await api('PUT', '/dialer/caps', s.adminKey, { maxCps: 100, maxConcurrent: 500 })).body, { maxConcurrent: 500, maxCps: 100 })
  assert.deepEqual((await api('PUT', '/dialer/caps', s.adminKey, { maxCps: null })).body, { maxConcurrent: 500, maxCps: null })
  assert.equal((await api('PUT', '/dialer/caps', s.adminKey, { maxCps: -1 })).status, 400)
  assert.equal((await api('PUT', '/dialer/caps', s.adminKey, { maxConcurrent: 1.5 })).status, 400)
})

test('a contacts CSV streams in: duplicates and do-not-call numbers are counted, bad rows reported by line, good rows loaded', async (t) => {
  const s = await dialerServer(t)
  const api = client(s)
  const operator = (await createApiKey(s.deps.pool, 'operator', 'o')).key
  await api('POST', '/flows', operator, { id: 'poll', definition: poll })
  assert.equal((await api('POST', '/campaigns', operator, campaign)).status, 201)

  assert.equal((await api('POST', '/dnc', undefined, '+13105550100\n', 'text/csv')).status, 401)
  const dnc = await api('POST', '/dnc?source=regulator', operator, '+13105550100\n3105550100\nnonsense\n', 'text/csv')
  assert.equal(dnc.status, 200, JSON.stringify(dnc.body))
  assert.equal(dnc.body.added, 1)
  assert.equal(dnc.body.badCount, 2, 'the national number needs a country, the word is no number')
  assert.deepEqual(dnc.body.bad.map((b: { line: number }) => b.line), [2, 3])

  const file = [
    'phone,name,tz', // 1
    '+12125550101,Ann,UTC', // 2
    '+12125550101,Ann twice,UTC', // 3: duplicate in the file
    'call me,Bob,', // 4: bad number
    '+13105550100,Dnc,', // 5: do-not-call
    '2125550102,Cat,Mars/Base', // 6: bad zone
    '2125550103,Dan,', // 7: national, read as US
    '2125550104,Eve,,extra', // 8: too many fields
  ].join('\n') + '\n'
  const res = await api('POST', '/campaigns/spring/contacts?defaultCountry=us', operator, file, 'text/csv; charset=utf-8')
  assert.equal(res.status, 200, JSON.stringify(res.body))
  assert.equal(res.body.imported, 2)
  assert.equal(res.body.duplicates, 1)
  assert.equal(res.body.dnc, 1)
  assert.equal(res.body.badCount, 3)
  assert.deepEqual(res.body.bad.map((b: { line: number }) => b.line), [4, 6, 8])
  assert.match(res.body.bad[1].reason, /Mars\/Base/)
  const rows = await s.deps.pool.query('SELECT phone_e164, vars FROM contacts WHERE campaign_id = $1 ORDER BY phone_e164', ['spring'])
  assert.deepEqual(rows.rows.map((r) => [r.phone_e164, r.vars.name]), [['+12125550101', 'Ann'], ['+12125550103', 'Dan']])

  // Again: everything good is a duplicate now.
  const again = await api('POST', '/campaigns/spring/contacts?defaultCountry=US', operator, file, 'text/csv')
  assert.equal(again.body.imported, 0)
  assert.equal(again.body.duplicates, 3)

  // Not CSV, not a CSV it can read, a query it does not know.
  const json = await api('POST', '/campaigns/spring/contacts', operator, { phone: '+12125550101' })
  assert.equal(json.status, 415)
  assert.match(json.body.message, /text\/csv/)
  const noPhone = await api('POST', '/campaigns/spring/contacts', operator, 'name,city\nAnn,Paris\n', 'text/csv')
  assert.equal(noPhone.status, 400)
  assert.equal(noPhone.body.code, 'FED_DIALER_BAD_CSV')
  assert.equal((await api('POST', '/campaigns/spring/contacts?country=US', operator, file, 'text/csv')).status, 400)
  assert.equal((await api('POST', '/campaigns/missing/contacts', operator, file, 'text/csv')).status, 404)

  const stats = await api('GET', '/campaigns/spring/stats', operator)
  assert.equal(stats.status, 200)
  assert.equal(stats.body.contacts.total, 2)
  assert.equal(stats.body.contacts.pending, 2)
  for (const k of ['attempts', 'dialled', 'expired', 'open', 'answerRate', 'cps', 'windowSec', 'concurrent']) assert.equal(typeof stats.body[k], 'number', k)
  assert.deepEqual(Object.keys(stats.body.outcomes).sort(), ['answered', 'busy', 'failed', 'lost', 'machine', 'noanswer'])
  assert.deepEqual(stats.body.results, [])
})

test('CSV uploads past FEDERATE_CSV_BODY_LIMIT are refused with 413, declared or streamed', async (t) => {
  const s = await dialerServer(t, { FEDERATE_CSV_BODY_LIMIT: '2048' })
  const api = client(s)
  await api('POST', '/flows', s.adminKey, { id: 'poll', definition: poll })
  await api('POST', '/campaigns', s.adminKey, campaign)
  const big = 'phone\n' + Array.from({ length: 200 }, (_, i) => `+1212555${String(1000 + i)}`).join('\n') + '\n'
  assert.ok(big.length > 2048)
  const declared = await api('POST', '/campaigns/spring/contacts', s.adminKey, big, 'text/csv')
  assert.equal(declared.status, 413)
  assert.equal(declared.body.code, 'FED_API_TOO_LARGE')
  assert.match(declared.body.message, /federate contacts import/)

  // Chunked (no content-length): counted as it arrives.
  const bytes = new TextEncoder().encode(big)
  const stream = new ReadableStream({
    start (c) {
      for (let i = 0; i < bytes.length; i += 500) c.enqueue(bytes.slice(i, i + 500))
      c.close()
    },
  })
  const res = await fetch(`${s.url}/api/v1/campaigns/spring/contacts`, {
    method: 'POST', headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'text/csv' }, body: stream, duplex: 'half',
  } as RequestInit)
  assert.equal(res.status, 413)
  const small = await api('POST', '/campaigns/spring/contacts', s.adminKey, 'phone\n+12125551000\n', 'text/csv')
  assert.equal(small.status, 200)
  assert.equal(small.body.imported, 1)
  const n = await s.deps.pool.query('SELECT count(*)::int AS n FROM contacts')
  assert.equal(n.rows[0].n, 1, 'nothing of the refused uploads was loaded')
})

test('campaign routes answer 503 with what to do when the dialer is off', async (t) => {
  const s = await startTestServer(t)
  const res = await client(s)('GET', '/campaigns', s.adminKey)
  assert.equal(res.status, 503)
  assert.equal(res.body.code, 'FED_API_DIALER_DISABLED')
  assert.match(res.body.message, /FEDERATE_DIALER/)
  assert.equal((await client(s)('GET', '/campaigns', undefined)).status, 401, 'authentication comes first')
  const spec = await (await fetch(`${s.url}/docs/json`)).json() as { paths: Record<string, unknown> }
  for (const path of ['/api/v1/campaigns', '/api/v1/campaigns/{id}/contacts', '/api/v1/campaigns/{id}/export', '/api/v1/dnc', '/api/v1/dialer/caps']) {
    assert.ok(spec.paths[path], `${path} is documented`)
  }
})
