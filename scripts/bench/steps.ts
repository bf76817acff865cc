// pnpm bench:steps — call.step throughput and latency of one app server process, with flows
// from Memcached, with the cache off (PostgreSQL every step), and as the ceiling in the same
// run, the xmlrpc package's own server answering a no-op. Ratios matter, not absolute numbers.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { createApiKey, createPool, issueInstanceToken, migrate } from '@federate/db'
import { createFlowSource, publishFlow } from '@federate/server'
import { createXmlRpcClient, encodeMethodCall } from '@federate/xmlrpc'
import { databaseUrl, freePort } from '@federate/testkit'
import { load, startChild, stopChild, table, type LoadResult } from './lib.ts'

const seconds = Number(process.env.BENCH_SECONDS ?? 8)
const root = fileURLToPath(new URL('../..', import.meta.url))
const dbUrl = databaseUrl('federate_bench')

async function setup (): Promise<{ token: string }> {
  await migrate(dbUrl)
  const pool = createPool(dbUrl, { max: 2 })
  const ivr = JSON.parse(await readFile(`${root}/examples/flows/ivr.json`, 'utf8'))
  const noCache = { get: async <T>(_k: string, f: () => Promise<T>) => await f(), delete: async () => {} }
  await publishFlow(pool, createFlowSource(pool, noCache), ivr, { id: 'bench-ivr', numbers: ['5550000'] })
  await createApiKey(pool, 'admin', 'bench')
  const token = await issueInstanceToken(pool, 'bench-1')
  await pool.close()
  return { token }
}

async function server (port: number, cache: boolean) {
  return await startChild(process.execPath, ['--import', 'tsx', `${root}/apps/cli/src/main.ts`, 'serve', '--port', String(port)], {
    DATABASE_URL: dbUrl,
    CACHE_ENABLED: String(cache),
    LOG_LEVEL: 'warn',
    CACHE_PREFIX: `bench${Date.now()}`,
    FEDERATE_DIALER: 'false',
    FEDERATE_STORAGE: 'false',
    NODE_ENV: 'production',
  }, `http://127.0.0.1:${port}/healthz`)
}

// A mid-call step: the welcome prompt was played, the flow answers with the menu (no writes).
async function stepBody (url: string, token: string): Promise<string> {
  const c = createXmlRpcClient({ url, token })
  const first = await c.call('call.step', { callId: 'bench.1', instanceId: 'bench-1', event: 'start', data: {}, channel: { extension: '5550000' } })
  c.close()
  return encodeMethodCall('call.step', [{ callId: 'bench.1', instanceId: 'bench-1', state: first.state, event: 'played', data: {}, channel: {} }])
}

async function measure (name: string, url: string, body: string, headers: Record<string, string>) {
  await load(url, body, headers, 2) // warm up
  const max = await load(url, body, headers, seconds)
  const at2k = await load(url, body, headers, seconds, 2000)
  return { name, max, at2k }
}

const fmt = (r: LoadResult) => ({ rps: Math.round(r.rps), p50: r.p50, p99: r.p99, errors: r.errors + r.non2xx })

const { token } = await setup()
const results: Array<{ name: string, max: LoadResult, at2k: LoadResult }> = []
for (const cache of [true, false]) {
  const port = await freePort()
  const child = await server(port, cache)
  try {
    const url = `http://127.0.0.1:${port}/RPC2`
    results.push(await measure(cache ? 'call.step, flows from Memcached' : 'call.step, cache off (PostgreSQL)', url, await stepBody(url, token), { authorization: `Bearer ${token}` }))
  } finally {
    await stopChild(child)
  }
}
{
  const port = await freePort()
  const child = await startChild(process.execPath, [`${root}/scripts/bench/noop-xmlrpc-server.cjs`, String(port)], {}, `http://127.0.0.1:${port}/`)
  try {
    results.push(await measure('ceiling: xmlrpc package server, no-op', `http://127.0.0.1:${port}/`, encodeMethodCall('noop', [{}]), {}))
  } finally {
    await stopChild(child)
  }
}

const rows = results.map((r) => {
  const m = fmt(r.max)
  const f = fmt(r.at2k)
  return { case: r.name, 'max req/s': m.rps, 'p50 ms': m.p50, 'p99 ms': m.p99, '@2000/s p50 ms': f.p50, '@2000/s p99 ms': f.p99, errors: m.errors + f.errors }
})
console.log(table(rows))
const [cached, uncached, ceiling] = results
console.log(`\ncached / uncached: ${(cached!.max.rps / uncached!.max.rps).toFixed(2)}x; cached / ceiling: ${(cached!.max.rps / ceiling!.max.rps).toFixed(2)}x (${seconds} s per run)`)
