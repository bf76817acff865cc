// pnpm bench:dialer — the dial rate the whole system sustains end to end, and how closely it
// holds a set rate. Real processes: N `federate serve` app servers (the dispatcher runs in each)
// and one `federate sim` process holding the simulated fleet (one real agent per instance). A
// campaign of the poll flow runs first at a low set rate (the system is not saturated), then
// at the high one. Everything is measured from the attempts table per second (by lease time),
// plus the fleet's own counters, the servers' logs and each process's CPU from /proc.
//
// Env: BENCH_RATE (680), BENCH_SECONDS (60), BENCH_LOW_RATE (50, 0 skips), BENCH_LOW_SECONDS
// (20), BENCH_WARMUP (5 s left out of the steady part), BENCH_INSTANCES (34), BENCH_CAPACITY
// (100), BENCH_SERVERS (2), BENCH_MAX_CONCURRENT (3500), BENCH_SPEED (1), BENCH_FLEETS (1: fleet
// processes the instances are split over).
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { cpuSecondsOf, machineCpu, startSystem, type FleetStats, type System } from '../../test/helpers/system.ts'
import { table } from './lib.ts'

const envNum = (name: string, def: number): number => {
  const v = process.env[name]
  const n = v === undefined || v === '' ? def : Number(v)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number >= 0 (got ${JSON.stringify(v)})`)
  return n
}
const RATE = envNum('BENCH_RATE', 680)
const SECONDS = envNum('BENCH_SECONDS', 60)
const LOW_RATE = envNum('BENCH_LOW_RATE', 50)
const LOW_SECONDS = envNum('BENCH_LOW_SECONDS', 20)
const WARMUP = envNum('BENCH_WARMUP', 5)
const INSTANCES = envNum('BENCH_INSTANCES', 34)
const CAPACITY = envNum('BENCH_CAPACITY', 100)
const SERVERS = envNum('BENCH_SERVERS', 2)
const MAX_CONCURRENT = envNum('BENCH_MAX_CONCURRENT', 3500)
const SPEED = envNum('BENCH_SPEED', 1)
const FLEETS = Math.max(1, envNum('BENCH_FLEETS', 1))
const RING_TIMEOUT_SEC = 5
// How long a phase waits for its last calls to end before the books are closed.
const DRAIN_SEC = 15

// Callees whose calls last about 5 s (at speed 1): a 1.2 s ring, 1 s of AMD, two 0.8 s prompts
// and a vote 0.4 s later, a 0.8 s thank-you (~5 s with the steps); machines hear a 0.8 s
// message; no-answers ring for the campaign's 5 s ring timeout; busy and failed end within 2 s.
// Measured mean hold, lease to end, on an idle fleet: ~4.5 s, so 680 cps needs ~3,100
// channels (Little's law) of the 3,400.
const PROFILE = {
  outcomes: { answer: 0.75, busy: 0.08, noanswer: 0.1, congestion: 0.04, unavailable: 0.03 },
  ring: { medianSec: 1.2, sigma: 0.3, maxSec: 4 },
  machineRate: 0.15,
  amd: { analysisSec: 1 },
  play: { promptSec: 0.8, interruptRate: 0.05 },
  gather: { noInputRate: 0.01, think: { medianSec: 0.4, sigma: 0.4, maxSec: 3 }, byPrompt: { 'poll/question': { 1: 55, 2: 45 } } },
  hangup: { rate: 0.02, after: { medianSec: 3, sigma: 0.5, maxSec: 10 } },
}

const DIALLED = ['answered', 'busy', 'noanswer', 'failed', 'machine', 'lost']

/** XML-RPC requests served so far by method, over every server (their /metrics). */
async function rpcCounts (sys: System): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const srv of sys.servers) {
    const text = await (await fetch(`${srv.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text().catch(() => '')
    for (const line of text.split('\n')) {
      const m = /^federate_rpc_duration_seconds_count\{([^}]*)\} ([\d.e+]+)/.exec(line)
      const method = m ? /method="([^"]+)"/.exec(m[1]!)?.[1] : undefined
      if (m && method) out[method] = (out[method] ?? 0) + Number(m[2])
    }
  }
  return out
}

interface Cpu { procs: Record<string, number>, postgres: number, redis: number, machine: { busy: number, total: number }, bench: number, at: number }
function cpuNow (sys: System): Cpu {
  const u = process.cpuUsage()
  return { procs: sys.cpu(), postgres: cpuSecondsOf('postgres'), redis: cpuSecondsOf('redis-server'), machine: machineCpu(), bench: (u.user + u.system) / 1e6, at: Date.now() }
}

function median (xs: number[]): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const mean = (xs: number[]): number => xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d
const diffMap = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.keys(b).map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)]).filter(([, v]) => v !== 0))

/** Distinct NANP numbers: +1 212 2XX XXXX onwards, from `offset`. */
function contactsCsv (n: number, offset: number): string {
  const lines = ['phone']
  for (let i = offset; i < offset + n; i++) {
    const exchange = 200 + Math.floor(i / 10_000)
    lines.push(`+1212${exchange}${String(i % 10_000).padStart(4, '0')}`)
  }
  return lines.join('\n')
}

interface PhaseResult {
  rate: number
  seconds: number
  perSecond: Array<{ s: number, leased: number, dialled: number, expired: number, concurrent: number }>
  steady: number[]
  /** Attempts settled (call ended) per second over the steady window: the calls the system completes. */
  settledPerSec: number
  /** CPU milliseconds per settled call, by process, over the steady window. */
  cpuMsPerCall: Record<string, number>
  achievedMedian: number
  achievedMean: number
  deviationPct: number
  peakConcurrent: number
  simPeak: number
  totals: { attempts: number, dialled: number, expired: number, open: number, outcomes: Record<string, number>, sumContactAttempts: number, contactsOpen: number }
  identity: boolean
  fleet: { sorry: number, agiErrors: number, originate: Record<string, number>, ended: Record<string, number>, stepsPerSec: number }
  serverLogs: Record<string, number>
  fleetLogs: Record<string, number>
  cpu: Record<string, number>
  machineBusyPct: number
  /** XML-RPC requests per second over the steady window, by method, and app-server CPU ms per request. */
  rpcPerSec: Record<string, number>
  serverCpuMsPerRequest: number
}

async function runPhase (sys: System, label: string, rate: number, seconds: number, offset: number): Promise<PhaseResult> {
  const contacts = Math.ceil(rate * seconds * 1.2)
  const c = await sys.createCampaign({
    name: `bench ${label} ${rate} cps`,
    flowId: 'poll',
    callerId: '+15550001111',
    rateCps: rate,
    maxConcurrent: MAX_CONCURRENT,
    ringTimeoutSec: RING_TIMEOUT_SEC,
    window: { start: '00:00', end: '24:00' },
    maxAttempts: 1,
    retryPolicy: Object.fromEntries(['busy', 'noanswer', 'failed', 'machine', 'lost'].map((o) => [o, { retry: false }])),
  })
  const t0 = Date.now()
  const imported = await sys.importContacts(c.id, contactsCsv(contacts, offset))
  console.error(`[${label}] ${imported.imported} contacts imported in ${((Date.now() - t0) / 1000).toFixed(1)} s; running ${seconds} s at ${rate} cps`)
  const fleet = sys.fleet!
  const f0 = fleet.stats() ?? await fleet.nextStats()
  const logs0 = sys.serverLogLevels()
  const flog0 = fleet.logLevels()
  const startedAt = new Date()
  await sys.campaignAction(c.id, 'start')
  await sleep(WARMUP * 1000)
  const rpc0 = await rpcCounts(sys)
  const cpu0 = cpuNow(sys)
  let simPeak = 0
  const progress = setInterval(() => {
    const s = fleet.stats()
    if (s) simPeak = Math.max(simPeak, s.active)
    if (s) console.error(`[${label}] ${Math.round((Date.now() - startedAt.getTime()) / 1000)} s: ${s.active} active calls in the fleet, ${s.stepsPerSec} steps/s, ${s.started.outbound - f0.started.outbound} originated`)
  }, 5000)
  await sleep(Math.max(0, startedAt.getTime() + seconds * 1000 - Date.now()))
  const cpu1 = cpuNow(sys)
  const rpc1 = await rpcCounts(sys)
  clearInterval(progress)
  await sys.campaignAction(c.id, 'stop')
  // The last calls end (ring timeout + talk); leases never started expire later and stay open.
  const drainUntil = Date.now() + DRAIN_SEC * 1000
  while (Date.now() < drainUntil) {
    const r = await sys.pool.query('SELECT count(*)::int AS n FROM attempts WHERE campaign_id = $1 AND outcome IS NULL AND started_at IS NOT NULL', [c.id])
    if (r.rows[0].n === 0) break
    await sleep(500)
  }
  const f1 = await fleet.nextStats(15_000).catch(() => fleet.stats()!)
  const history = fleet.history().filter((s) => s.at >= startedAt.getTime() && s.at <= startedAt.getTime() + seconds * 1000)
  for (const s of history) simPeak = Math.max(simPeak, s.active)

  // Per second, from the attempts table: leases by lease time; concurrency by sweeping every
  // attempt's lease..end interval (expired leases never became calls and are left out).
  const { rows } = await sys.pool.query<{ l: number, e: number | null, outcome: string | null }>(`
    SELECT extract(epoch FROM leased_at - $2::timestamptz)::float8 AS l,
      extract(epoch FROM ended_at - $2::timestamptz)::float8 AS e, outcome
    FROM attempts WHERE campaign_id = $1`, [c.id, startedAt])
  // Kept for a closer look: every attempt's lease and end (seconds from the start) and outcome.
  writeFileSync(join(sys.runDir, `attempts-${label}.json`), JSON.stringify(rows))
  const span = Math.ceil(seconds + DRAIN_SEC)
  const perSecond = Array.from({ length: Math.ceil(seconds) }, (_, s) => ({ s, leased: 0, dialled: 0, expired: 0, concurrent: 0 }))
  const events: Array<[number, number]> = []
  for (const r of rows) {
    const b = perSecond[Math.floor(r.l)]
    if (b) {
      b.leased++
      if (r.outcome === 'expired') b.expired++
      else if (r.outcome !== null) b.dialled++
    }
    if (r.outcome !== 'expired') {
      events.push([r.l, 1])
      events.push([r.e ?? span, -1])
    }
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  let live = 0
  let peakConcurrent = 0
  let ei = 0
  for (const b of perSecond) {
    // Concurrency at the end of each second, and the peak over all instants.
    while (ei < events.length && events[ei]![0] <= b.s + 1) {
      live += events[ei]![1]
      peakConcurrent = Math.max(peakConcurrent, live)
      ei++
    }
    b.concurrent = live
  }
  for (; ei < events.length; ei++) {
    live += events[ei]![1]
    peakConcurrent = Math.max(peakConcurrent, live)
  }
  const steady = perSecond.filter((b) => b.s >= WARMUP && b.s < seconds).map((b) => b.leased)
  const w0 = (cpu0.at - startedAt.getTime()) / 1000
  const w1 = (cpu1.at - startedAt.getTime()) / 1000
  const settled = rows.filter((r) => r.outcome !== 'expired' && r.e !== null && r.e >= w0 && r.e < w1).length
  const settledPerSec = settled / (w1 - w0)
  const achievedMean = mean(steady)

  const t = await sys.pool.query(`
    SELECT
      (SELECT count(*)::int FROM attempts WHERE campaign_id = $1) AS attempts,
      (SELECT count(*)::int FROM attempts WHERE campaign_id = $1 AND outcome = ANY($2)) AS dialled,
      (SELECT count(*)::int FROM attempts WHERE campaign_id = $1 AND outcome = 'expired') AS expired,
      (SELECT count(*)::int FROM attempts WHERE campaign_id = $1 AND outcome IS NULL) AS open,
      (SELECT coalesce(sum(attempts), 0)::int FROM contacts WHERE campaign_id = $1) AS sum_contact_attempts,
      (SELECT count(*)::int FROM contacts WHERE campaign_id = $1 AND state IN ('leased', 'dialing')) AS contacts_open,
      (SELECT json_object_agg(outcome, n) FROM (SELECT outcome, count(*)::int AS n FROM attempts WHERE campaign_id = $1 AND outcome = ANY($2) GROUP BY outcome) x) AS outcomes`,
  [c.id, DIALLED])
  const row = t.rows[0]
  const outcomes = (row.outcomes ?? {}) as Record<string, number>
  const totals = { attempts: row.attempts, dialled: row.dialled, expired: row.expired, open: row.open, outcomes, sumContactAttempts: row.sum_contact_attempts, contactsOpen: row.contacts_open }
  const sumOutcomes = DIALLED.reduce((a, o) => a + (outcomes[o] ?? 0), 0)
  const identity = totals.dialled === sumOutcomes && totals.dialled === totals.sumContactAttempts &&
    totals.attempts === totals.dialled + totals.expired + totals.open && totals.open === totals.contactsOpen

  const window = (cpu1.at - cpu0.at) / 1000
  const pct = (a: number, b: number): number => round(((b - a) / window) * 100, 0)
  const cpu: Record<string, number> = {}
  for (const k of Object.keys(cpu1.procs)) cpu[k] = pct(cpu0.procs[k]!, cpu1.procs[k]!)
  cpu['postgres (all backends)'] = pct(cpu0.postgres, cpu1.postgres)
  cpu['redis-server'] = pct(cpu0.redis, cpu1.redis)
  cpu['bench (this process)'] = pct(cpu0.bench, cpu1.bench)
  const cpuMsPerCall: Record<string, number> = {}
  for (const [k, v] of Object.entries(cpu)) if (!k.startsWith('bench')) cpuMsPerCall[k] = settled > 0 ? round((v / 100) * 1000 / settledPerSec, 1) : Number.NaN
  const rpc = diffMap(rpc0, rpc1)
  const requests = Object.values(rpc).reduce((a, b) => a + b, 0)
  const serverCpu = Object.keys(cpu1.procs).filter((k) => k.startsWith('server-')).reduce((a, k) => a + cpu1.procs[k]! - cpu0.procs[k]!, 0)
  const machineBusyPct = round(((cpu1.machine.busy - cpu0.machine.busy) / (cpu1.machine.total - cpu0.machine.total)) * 100, 0)

  return {
    rate,
    seconds,
    perSecond,
    steady,
    settledPerSec,
    cpuMsPerCall,
    achievedMedian: median(steady),
    achievedMean,
    deviationPct: ((achievedMean - rate) / rate) * 100,
    peakConcurrent,
    simPeak,
    totals,
    identity,
    fleet: {
      sorry: f1.sorry - f0.sorry,
      agiErrors: f1.agiErrors - f0.agiErrors,
      originate: diffMap(f0.originate, f1.originate),
      ended: diffMap(f0.ended, f1.ended),
      stepsPerSec: round(mean(history.filter((s) => s.at >= startedAt.getTime() + WARMUP * 1000).map((s: FleetStats) => s.stepsPerSec)), 0),
    },
    serverLogs: diffMap(logs0, sys.serverLogLevels()),
    fleetLogs: diffMap(flog0, fleet.logLevels()),
    cpu,
    machineBusyPct,
    rpcPerSec: Object.fromEntries(Object.entries(rpc).map(([k, v]) => [k, round(v / window, 0)])),
    serverCpuMsPerRequest: requests > 0 ? round((serverCpu * 1000) / requests, 2) : Number.NaN,
  }
}

/** The most frequent warn/error messages in a pino log file (for the report). */
function topMessages (file: string, n = 3): string[] {
  if (!existsSync(file)) return []
  const counts = new Map<string, number>()
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      const j = JSON.parse(line) as { level?: number, msg?: string, err?: unknown }
      if ((j.level ?? 0) < 40) continue
      const err = typeof j.err === 'string' ? j.err : (j.err as { message?: string } | undefined)?.message
      const key = `${j.msg ?? '?'}${err ? `: ${err}` : ''}`.slice(0, 160)
      counts.set(key, (counts.get(key) ?? 0) + 1)
    } catch {}
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, n).map(([m, c]) => `${c} x ${m}`)
}

const started = Date.now()
console.error(`bench:dialer: ${SERVERS} app servers, ${INSTANCES} simulated instances x ${CAPACITY} channels in ${FLEETS} fleet process${FLEETS === 1 ? '' : 'es'} (speed ${SPEED}); set rates ${LOW_RATE > 0 ? `${LOW_RATE} cps for ${LOW_SECONDS} s, then ` : ''}${RATE} cps for ${SECONDS} s`)
const sys = await startSystem({
  name: 'bench-dialer',
  servers: SERVERS,
  instances: INSTANCES,
  capacity: CAPACITY,
  speed: SPEED,
  seed: 7,
  profile: PROFILE,
  statsEverySec: 1,
  fleetProcesses: FLEETS,
  graceSec: 2,
  // The dispatcher's and leases' only warnings should be real problems: keep the level at warn.
  env: { DATABASE_POOL_SIZE: '20' },
})
const results: Array<{ label: string, r: PhaseResult }> = []
let serverTop: string[] = []
let fleetTop: string[] = []
try {
  console.error(`system up in ${((Date.now() - started) / 1000).toFixed(1)} s; logs in ${sys.runDir}`)
  await sys.publishFlow('examples/flows/poll.json', [], 'poll')
  if (LOW_RATE > 0 && LOW_SECONDS > 0) results.push({ label: 'low', r: await runPhase(sys, 'low', LOW_RATE, LOW_SECONDS, 0) })
  if (RATE > 0 && SECONDS > 0) results.push({ label: 'high', r: await runPhase(sys, 'high', RATE, SECONDS, 1_000_000) })
  // Read before shutdown: calls cut at close() log their own (expected) errors.
  serverTop = sys.servers.flatMap((s) => topMessages(s.stderrFile))
  fleetTop = (sys.fleet?.stderrFiles ?? []).flatMap((f) => topMessages(f))
} finally {
  await sys.close()
}

for (const { label, r } of results) {
  console.log(`\n${label}: set ${r.rate} cps for ${r.seconds} s; leased per second (s 0..${r.seconds - 1}):`)
  console.log(`  ${r.perSecond.map((b) => b.leased).join(' ')}`)
  console.log(`  concurrent at each second's end: ${r.perSecond.map((b) => b.concurrent).join(' ')}`)
}
console.log()
console.log(table(results.map(({ r }) => ({
  'set cps': r.rate,
  'steady s': r.steady.length,
  'achieved median': round(r.achievedMedian),
  'achieved mean': round(r.achievedMean),
  'deviation %': round(r.deviationPct),
  'min/max per s': `${Math.min(...r.steady)}/${Math.max(...r.steady)}`,
  'calls ended/s': round(r.settledPerSec),
  'peak concurrent': r.peakConcurrent,
  'fleet peak active': r.simPeak,
  'steps/s': r.fleet.stepsPerSec,
  dialled: r.totals.dialled,
  expired: r.totals.expired,
  'sorry / AGI err': `${r.fleet.sorry} / ${r.fleet.agiErrors}`,
  'server warn/err': `${r.serverLogs.warn ?? 0}/${(r.serverLogs.error ?? 0) + (r.serverLogs.fatal ?? 0)}`,
  identity: r.identity ? 'holds' : 'BROKEN',
}))))
console.log()
console.log(table(results.flatMap(({ r }) => [{ 'set cps': r.rate, ...Object.fromEntries(Object.entries(r.cpu).map(([k, v]) => [k, `${v}%`])), 'machine busy (2 cores = 100%)': `${r.machineBusyPct}%` }])))
console.log()
console.log(table(results.map(({ r }) => ({ 'set cps': r.rate, 'CPU ms per ended call': 'by process', ...r.cpuMsPerCall, 'all of ours': round(Object.values(r.cpuMsPerCall).reduce((a, b) => a + b, 0)) }))))
for (const { label, r } of results) {
  console.log(`\n${label}: outcomes ${JSON.stringify(r.totals.outcomes)}; attempts ${r.totals.attempts} = dialled ${r.totals.dialled} + expired ${r.totals.expired} + open ${r.totals.open}; Σ contacts.attempts ${r.totals.sumContactAttempts}`)
  console.log(`  XML-RPC per second (steady window) ${JSON.stringify(r.rpcPerSec)}; app-server CPU ${r.serverCpuMsPerRequest} ms per request`)
  console.log(`  fleet originate ${JSON.stringify(r.fleet.originate)} ended ${JSON.stringify(r.fleet.ended)}; fleet log ${JSON.stringify(r.fleetLogs)}; server log ${JSON.stringify(r.serverLogs)}`)
}
if (serverTop.length > 0) console.log(`\nserver log, most frequent warnings/errors: ${serverTop.join(' | ')}`)
if (fleetTop.length > 0) console.log(`fleet log, most frequent warnings/errors (before shutdown): ${fleetTop.join(' | ')}`)

// Where the time went: the busiest process, whether the machine itself was saturated, and what
// the set rate would need at the CPU cost per call measured when the system kept up (low phase).
const last = results.at(-1)?.r
if (last) {
  const [busiest, busiestPct] = Object.entries(last.cpu).filter(([k]) => !k.startsWith('bench')).sort((a, b) => b[1] - a[1])[0]!
  const saturated = last.machineBusyPct >= 90
  const singleLoop = busiest.startsWith('fleet') || busiest.startsWith('server-')
  const ref = results[0]!.r
  const perCall = Object.values(ref.cpuMsPerCall).reduce((a, b) => a + b, 0)
  const cores = (perCall * last.rate) / 1000
  console.log(`\nsummary: set ${last.rate} cps -> achieved ${round(last.achievedMedian)} cps median (${round(last.achievedMean)} mean, ${round(last.deviationPct)}%) over ${last.steady.length} steady s, ${round(last.settledPerSec)} calls ended/s; ` +
    `peak ${last.peakConcurrent} concurrent; identity ${last.identity ? 'holds' : 'BROKEN'}; ` +
    `machine ${last.machineBusyPct}% busy${saturated ? ' (saturated)' : ''}, busiest: ${busiest} at ${busiestPct}% of a core${singleLoop && busiestPct >= 85 ? ' (one Node event loop: its ceiling is 100%)' : ''}` +
    `${results.length > 1 ? `; at ${ref.rate} cps: ${round(ref.achievedMedian)} median, ${round(ref.deviationPct)}%, ${round(ref.settledPerSec)} ended/s` : ''}; ` +
    `${round(perCall)} CPU ms per call over our processes at ${ref.rate} cps -> ${last.rate} cps needs ~${round(cores)} cores; ${((Date.now() - started) / 1000).toFixed(0)} s in all`)
}
