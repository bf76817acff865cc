// pnpm bench:scaling — the controller growing a real local fleet for a campaign and shrinking it
// afterwards (issue 6). Real processes: a fresh database, N `federate serve` app servers (the
// dispatcher in each), and the controller in this process with the local provider, so every
// instance is its own `federate sim --instances 1` process with its own agent and token. A
// campaign dials callees who hold ~65 s (a flow that waits), long enough for ~3,000 concurrent
// calls within this machine's ~50 calls/s, then runs out of contacts; the fleet goes from min to
// what the load needs and back. Measured from the database afterwards: calls cut by scale-in
// (must be 0), instance-seconds against the ideal fleet (by answered calls and by channels in
// use), how soon an empty instance was terminated, a reason on every decision, the peak fleet and
// how long scaling out took.
//
// Env: BENCH_RATE (50 cps), BENCH_DIAL_SECONDS (70: contacts = rate x seconds), BENCH_HOLD_SEC
// (65: the flow's wait), BENCH_ANSWER (0.94: share of callees who answer), BENCH_CAPACITY (100),
// BENCH_MIN (1), BENCH_MAX (40), BENCH_SERVERS (2), BENCH_RECONCILE_MS (2000),
// BENCH_STABILISATION_SEC (30), BENCH_LIMIT_SEC (450: the campaign part gives up after this),
// BENCH_HEADROOM (0.1), BENCH_TOLERANCE (0.05: the scale-in dead band),
// BENCH_SUMMARY_FILE (the figures as JSON; default summary.json in the run folder).
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import { loadConfig, redisSettings } from '@federate/config'
import { controllerSettings, createController, trySimBundle, type Controller } from '@federate/controller'
import { createDialer, type Dialer } from '@federate/dialer'
import { createLocalProvider, type Provider } from '@federate/scaler'
import { machineCpu, startSystem, type System } from '../../test/helpers/system.ts'
import { table } from './lib.ts'

const envNum = (name: string, def: number): number => {
  const v = process.env[name]
  const n = v === undefined || v === '' ? def : Number(v)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a number >= 0 (got ${JSON.stringify(v)})`)
  return n
}
const RATE = envNum('BENCH_RATE', 50)
const DIAL_SECONDS = envNum('BENCH_DIAL_SECONDS', 70)
const HOLD_SEC = envNum('BENCH_HOLD_SEC', 65)
const ANSWER = Math.min(1, envNum('BENCH_ANSWER', 0.94))
const CAPACITY = Math.max(1, envNum('BENCH_CAPACITY', 100))
const MIN = envNum('BENCH_MIN', 1)
const MAX = Math.max(1, envNum('BENCH_MAX', 40))
const SERVERS = Math.max(1, envNum('BENCH_SERVERS', 2))
const RECONCILE_MS = Math.max(100, envNum('BENCH_RECONCILE_MS', 2000))
const STABILISATION_SEC = envNum('BENCH_STABILISATION_SEC', 30)
const HEADROOM = envNum('BENCH_HEADROOM', 0.1)
const TOLERANCE = envNum('BENCH_TOLERANCE', 0.05)
const LIMIT_SEC = envNum('BENCH_LIMIT_SEC', 450)
const RING_TIMEOUT_SEC = 15
const CONTACTS = Math.ceil(RATE * DIAL_SECONDS)

// Callees: almost all answer after ~2 s of ringing and stay on the line for the flow's wait; a
// few are busy, do not answer (ringing until the campaign's 15 s timeout) or fail; 2% hang up
// early. No answering machines (the flow has no AMD node).
const rest = 1 - ANSWER
const PROFILE = {
  outcomes: { answer: ANSWER, busy: rest / 3, noanswer: rest / 3, congestion: rest / 6, unavailable: rest / 6 },
  ring: { medianSec: 2, sigma: 0.3, maxSec: 6 },
  machineRate: 0,
  hangup: { rate: 0.02, after: { medianSec: 30, sigma: 0.5, maxSec: 60 } },
}
const FLOW = {
  format: 'federate.flow/1',
  name: 'Hold the line',
  description: 'bench:scaling: an answered call waits, then hangs up (a long survey without the prompts).',
  start: 'hold',
  nodes: {
    hold: { type: 'wait', seconds: HOLD_SEC, next: 'bye' },
    bye: { type: 'hangup' },
  },
}

interface Sample { t: number, ready: number, starting: number, draining: number, live: number, activeCalls: number, rssMb: number }

const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d
const pctl = (xs: number[], p: number): number => {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!
}
const log = (line: string): void => { console.error(line) }

/** Pid files of the local provider's state dir: `{ id, pid }` of every instance it still knows. */
function pidFiles (dir: string): Array<{ id: string, pid: number }> {
  if (!existsSync(dir)) return []
  const out: Array<{ id: string, pid: number }> = []
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json') || f.endsWith('.token.json')) continue
    try {
      const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { id: string, pid: number }
      if (Number.isInteger(p.pid) && p.pid > 1) out.push(p)
    } catch {}
  }
  return out
}

/** Is `pid` alive and a `federate sim` (pids are reused)? */
function isSim (pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('sim')
  } catch {
    return false
  }
}

/** SIGKILLs every sim a pid file still names (the last line of defence: no orphans after a bench). */
function killLeftovers (dir: string): number {
  let n = 0
  for (const p of pidFiles(dir)) {
    if (!isSim(p.pid)) continue
    try {
      process.kill(p.pid, 'SIGKILL')
      n++
    } catch {}
  }
  return n
}

/** Resident memory of the running sims, MB. */
function fleetRssMb (dir: string): number {
  let kb = 0
  for (const p of pidFiles(dir)) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))
      if (m) kb += Number(m[1])
    } catch {}
  }
  return kb / 1024
}

/** The most frequent warnings and errors over the instances' logs (`<stateDir>/<id>.log`). */
function fleetWarnings (dir: string, n = 4): string[] {
  const counts = new Map<string, number>()
  if (!existsSync(dir)) return []
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.log'))) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue
      try {
        const j = JSON.parse(line) as { level?: number, msg?: string, err?: { message?: string } }
        if ((j.level ?? 0) < 40) continue
        const key = `${j.msg ?? '?'}${j.err?.message ? `: ${j.err.message}` : ''}`.slice(0, 120)
        counts.set(key, (counts.get(key) ?? 0) + 1)
      } catch {}
    }
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, n).map(([m, c]) => `${c} x ${m}`)
}

async function sample (sys: System, t: number, stateDir: string): Promise<Sample> {
  const { rows } = await sys.pool.query<{ state: string, n: number }>("SELECT state, count(*)::int AS n FROM instances WHERE state <> 'terminated' GROUP BY state")
  const by = Object.fromEntries(rows.map((r) => [r.state, r.n])) as Record<string, number>
  const calls = await sys.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM calls WHERE status = 'active'")
  const ready = by.ready ?? 0
  const starting = (by.pending ?? 0) + (by.booting ?? 0) + (by.syncing ?? 0)
  const draining = by.draining ?? 0
  return { t, ready, starting, draining, live: ready + starting + draining + (by.lost ?? 0), activeCalls: calls.rows[0]!.n, rssMb: fleetRssMb(stateDir) }
}

const started = Date.now()
log(`bench:scaling: ${SERVERS} app servers; controller (local provider) min ${MIN}, max ${MAX} instances x ${CAPACITY} channels, reconcile ${RECONCILE_MS} ms, ` +
  `scale-in after ${STABILISATION_SEC} s, headroom ${HEADROOM}, tolerance ${TOLERANCE}; campaign ${RATE} cps, ${CONTACTS} contacts (~${DIAL_SECONDS} s of dialling), answered calls hold ${HOLD_SEC} s`)
const sys = await startSystem({ name: 'bench-scaling', servers: SERVERS, instances: 0, env: { DATABASE_POOL_SIZE: '20' } })
const stateDir = join(sys.runDir, 'fleet')
const profileFile = join(sys.runDir, 'profile.json')
writeFileSync(profileFile, JSON.stringify(PROFILE, null, 2))
// Whatever happens (a throw, Ctrl-C), no simulated instance outlives the bench.
const onExit = (): void => { killLeftovers(stateDir) }
process.once('exit', onExit)
let interrupted = false
const onSignal = (): void => {
  if (interrupted) process.exit(130)
  interrupted = true
  log('interrupted: cleaning up (again to force)')
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)

let controller: Controller | undefined
let provider: Provider | undefined
let dialer: Dialer | undefined
const samples: Sample[] = []
let t0 = 0
let tEnd = 0
let dialEndedAt: number | undefined
let campaignId = ''
let cpu0 = machineCpu()
let cpu1 = cpu0
let failure: unknown
try {
  log(`system up in ${((Date.now() - started) / 1000).toFixed(1)} s; logs in ${sys.runDir}`)
  await sys.publishFlow(FLOW, [], 'hold')

  // The controller as `federate controller` wires it (apps/controller/src/main.ts), with a local
  // provider of our own so the instances get the callee profile (--profile).
  const config = loadConfig(controllerSettings, {
    env: {
      DATABASE_URL: sys.databaseUrl,
      FEDERATE_CLUSTER: 'bench',
      FEDERATE_PROVIDER: 'local',
      FEDERATE_AGENT_SERVERS: sys.servers.map((s) => s.rpcUrl).join(','),
      FEDERATE_LOCAL_CAPACITY: String(CAPACITY),
      FEDERATE_CALLS_PER_INSTANCE: String(CAPACITY),
      FEDERATE_LOCAL_SPEED: '1',
      FEDERATE_LOCAL_STATE_DIR: stateDir,
      FEDERATE_SCALE_MIN: String(MIN),
      FEDERATE_SCALE_MAX: String(MAX),
      FEDERATE_RECONCILE_MS: String(RECONCILE_MS),
      FEDERATE_SCALE_IN_STABILISATION_SEC: String(STABILISATION_SEC),
      FEDERATE_SCALE_HEADROOM: String(HEADROOM),
      FEDERATE_SCALE_IN_TOLERANCE: String(TOLERANCE),
      // Until the campaign has ended calls of its own, it holds a channel for ring + the wait.
      FEDERATE_CAMPAIGN_HOLD_SEC: String(HOLD_SEC + 2),
      LOG_LEVEL: 'info',
    },
  })
  const logger = pino({ level: 'info' }, pino.destination({ dest: join(sys.runDir, 'controller.log'), sync: false }))
  provider = createLocalProvider({
    servers: config.agentServers,
    cluster: config.cluster,
    stateDir,
    // Each instance runs the bundle of `federate sim` with plain node, as `federate controller` does.
    command: trySimBundle(stateDir, logger) ?? undefined,
    capacity: CAPACITY,
    speed: 1,
    seed: 'scaling',
    extraArgs: ['--profile', profileFile, '--no-check-prompts'],
    killAfterMs: config.localKillAfterSec * 1000,
    stopOnClose: true,
    logger,
  })
  dialer = createDialer({ pool: sys.pool, redisUrl: loadConfig(redisSettings).redisUrl, logger })
  const d = dialer
  controller = createController(config, {
    pool: sys.pool,
    provider,
    logger,
    settleAttempts: async (id) => await d.settleInstanceLost(id),
    openAttempts: async (id) => (await sys.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM attempts WHERE instance_id = $1 AND outcome IS NULL', [id])).rows[0]!.n,
  })
  controller.start()

  // The fleet at rest first: min instances ready.
  const bootStart = Date.now()
  for (;;) {
    const s = await sample(sys, 0, stateDir)
    if (s.ready >= MIN) break
    if (interrupted) throw new Error('interrupted')
    if (Date.now() - bootStart > 120_000) throw new Error(`the fleet did not reach min ${MIN} ready within 120 s (controller log: ${join(sys.runDir, 'controller.log')})`)
    await sleep(500)
  }
  log(`fleet at min (${MIN} ready) ${((Date.now() - bootStart) / 1000).toFixed(1)} s after the controller started`)

  const c = await sys.createCampaign({
    name: `bench scaling ${RATE} cps`,
    flowId: 'hold',
    callerId: '+15550001111',
    rateCps: RATE,
    maxConcurrent: MAX * CAPACITY,
    ringTimeoutSec: RING_TIMEOUT_SEC,
    window: { start: '00:00', end: '24:00' },
    maxAttempts: 1,
    retryPolicy: Object.fromEntries(['busy', 'noanswer', 'failed', 'machine', 'lost'].map((o) => [o, { retry: false }])),
  })
  campaignId = c.id
  const lines = ['phone']
  for (let i = 0; i < CONTACTS; i++) lines.push(`+1212${200 + Math.floor(i / 10_000)}${String(i % 10_000).padStart(4, '0')}`)
  const imported = await sys.importContacts(c.id, lines.join('\n'))
  log(`${imported.imported} contacts imported`)

  cpu0 = machineCpu()
  t0 = Date.now()
  await sys.campaignAction(c.id, 'start')
  log('campaign started\n   t  ready start drain | live calls | fleet RSS')
  // Until the campaign is done, its calls have ended and the fleet is back at min.
  for (;;) {
    const t = (Date.now() - t0) / 1000
    const s = await sample(sys, t, stateDir)
    samples.push(s)
    const camp = await sys.pool.query<{ status: string }>('SELECT status FROM campaigns WHERE id = $1', [c.id])
    const status = camp.rows[0]?.status
    const open = (await sys.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM attempts WHERE campaign_id = $1 AND outcome IS NULL', [c.id])).rows[0]!.n
    if (dialEndedAt === undefined && (status === 'completed' || status === 'stopped')) dialEndedAt = Date.now()
    if (samples.length % 5 === 1) log(`${t.toFixed(0).padStart(4)}  ${String(s.ready).padStart(5)} ${String(s.starting).padStart(5)} ${String(s.draining).padStart(5)} | ${String(s.activeCalls).padStart(10)} | ${Math.round(s.rssMb)} MB${status !== 'running' ? `  (campaign ${status})` : ''}`)
    if (dialEndedAt !== undefined && open === 0 && s.activeCalls === 0 && s.live <= MIN && s.draining === 0 && s.starting === 0) break
    // Bounded: stop dialling if the campaign has not ended by itself, then stop waiting.
    if (t > LIMIT_SEC * 0.6 && status === 'running') await sys.campaignAction(c.id, 'stop').catch(() => {})
    if (t > LIMIT_SEC) { log(`giving up after ${LIMIT_SEC} s: the fleet is not back at min`); break }
    if (interrupted) break
    await sleep(1000)
  }
  tEnd = Date.now()
  cpu1 = machineCpu()
} catch (err) {
  failure = err
} finally {
  // Stop deciding first, then stop every instance (stopOnClose), then anything a pid file names.
  await controller?.close().catch((err: unknown) => { log(`controller close: ${String(err)}`) })
  await provider?.close().catch((err: unknown) => { log(`provider close: ${String(err)}`) })
  const killed = killLeftovers(stateDir)
  if (killed > 0) log(`killed ${killed} leftover simulated instances`)
  await dialer?.close().catch(() => {})
}

// Everything below reads the database (still up: the system closes at the end).
try {
  if (failure !== undefined) throw failure
  if (t0 === 0 || campaignId === '') throw new Error('the campaign never started')
  const q = async <T extends Record<string, unknown>>(sql: string, params: unknown[] = []) => (await sys.pool.query<T>(sql, params)).rows
  const from = new Date(t0)
  const seconds = Math.max(1, Math.ceil((tEnd - t0) / 1000))

  // Concurrent calls at each second (calls.started_at .. ended_at), and attempts leased per second.
  const conc = await q<{ s: number, n: number }>(`
    SELECT (g.i - 1)::int AS s, (SELECT count(*) FROM calls c WHERE c.campaign_id = $1 AND c.started_at <= g.at AND coalesce(c.ended_at, 'infinity') > g.at)::int AS n
    FROM generate_series($2::timestamptz, $2::timestamptz + make_interval(secs => $3), interval '1 second') WITH ORDINALITY AS g(at, i)`, [campaignId, from, seconds - 1])
  const leased = await q<{ s: number, n: number }>(`
    SELECT floor(extract(epoch FROM leased_at - $2::timestamptz))::int AS s, count(*)::int AS n FROM attempts
    WHERE campaign_id = $1 AND outcome IS DISTINCT FROM 'expired' GROUP BY 1 ORDER BY 1`, [campaignId, from])
  // Channels in use at each second: every attempt from its lease (the instance dials at once) to
  // its end, ringing and unanswered ones too. An instance's capacity is channels, so this is the
  // load it carries; the calls table above counts only answered calls, from their answer.
  const chan = await q<{ s: number, n: number }>(`
    SELECT (g.i - 1)::int AS s, (SELECT count(*) FROM attempts a WHERE a.campaign_id = $1 AND a.outcome IS DISTINCT FROM 'expired'
      AND a.leased_at <= g.at AND coalesce(a.ended_at, 'infinity') > g.at)::int AS n
    FROM generate_series($2::timestamptz, $2::timestamptz + make_interval(secs => $3), interval '1 second') WITH ORDINALITY AS g(at, i)`, [campaignId, from, seconds - 1])
  const concurrency = conc.map((r) => r.n)
  const channels = chan.map((r) => r.n)
  const peakCalls = Math.max(0, ...concurrency)
  const peakCallsAt = concurrency.indexOf(peakCalls)
  const idealSec = concurrency.reduce((a, n) => a + Math.ceil(n / CAPACITY), 0)
  const idealMinSec = concurrency.reduce((a, n) => a + Math.max(MIN, Math.ceil(n / CAPACITY)), 0)
  const idealChannelSec = channels.reduce((a, n) => a + Math.ceil(n / CAPACITY), 0)

  // Instance lifetimes, clipped to the campaign's window.
  const inst = await q<{ id: string, launched_at: Date, ready_at: Date | null, drain_started_at: Date | null, terminated_at: Date | null, lost_at: Date | null, end_reason: string | null, calls_cut: number, state: string }>(
    'SELECT id, launched_at, ready_at, drain_started_at, terminated_at, lost_at, end_reason, calls_cut, state FROM instances ORDER BY launched_at')
  const endOf = (r: typeof inst[number]) => (r.terminated_at ?? r.lost_at)?.getTime() ?? tEnd
  const actualSec = inst.reduce((a, r) => a + Math.max(0, Math.min(endOf(r), tEnd) - Math.max(r.launched_at.getTime(), t0)) / 1000, 0)
  const liveAt = (ms: number) => inst.filter((r) => r.launched_at.getTime() <= ms && endOf(r) > ms).length
  const peakInstances = Math.max(0, ...Array.from({ length: seconds }, (_, s) => liveAt(t0 + s * 1000)), ...samples.map((s) => s.live))
  const peakReady = Math.max(0, ...samples.map((s) => s.ready))
  const bootSec = inst.filter((r) => r.ready_at && r.launched_at.getTime() >= t0).map((r) => (r.ready_at!.getTime() - r.launched_at.getTime()) / 1000)
  const launchedDuring = inst.filter((r) => r.launched_at.getTime() >= t0).length

  // Decisions: every one must say why.
  const decisions = await q<{ at: Date, action: string, code: string, observed: number, desired: number, load: number, live_calls: number, campaign_demand: number, instance_ids: string[], calls_cut: number, reason: string, limited_by: string | null }>(
    'SELECT at, action, code, observed, desired, load, live_calls, campaign_demand, instance_ids, calls_cut, reason, details->\'campaigns\'->0->>\'limitedBy\' AS limited_by FROM scaling_decisions WHERE at >= $1 ORDER BY id', [from])
  const allDecisions = (await q<{ n: number, unexplained: number }>("SELECT count(*)::int AS n, count(*) FILTER (WHERE coalesce(btrim(reason), '') = '' OR coalesce(btrim(code), '') = '')::int AS unexplained FROM scaling_decisions"))[0]!
  const byAction: Record<string, number> = {}
  for (const x of decisions) byAction[`${x.action}/${x.code}`] = (byAction[`${x.action}/${x.code}`] ?? 0) + 1

  // Drops: calls cut at termination, attempts and calls settled `lost`, instances lost.
  // Scale-in drains: an instance ends `drained` (its calls reached zero) or at its `drain
  // deadline` (the calls still up are cut). A lost instance (silent, vanished) is another story.
  const wasDrained = (r: typeof inst[number]) => r.end_reason === 'drained' || r.end_reason === 'drain deadline' || r.drain_started_at !== null
  const callsCut = inst.filter(wasDrained).reduce((a, r) => a + r.calls_cut, 0)
  const decisionsCut = decisions.filter((x) => x.action === 'terminate').reduce((a, x) => a + x.calls_cut, 0)
  const lostCut = inst.filter((r) => !wasDrained(r)).reduce((a, r) => a + r.calls_cut, 0)
  const [drainLost] = await q<{ n: number }>(`
    SELECT count(*)::int AS n FROM attempts a JOIN instances i ON i.id = a.instance_id
    WHERE a.campaign_id = $1 AND a.outcome = 'lost' AND (i.drain_started_at IS NOT NULL OR i.end_reason IN ('drained', 'drain deadline'))`, [campaignId])
  const [drops] = await q<{ lost_attempts: number, lost_calls: number, open: number, expired: number, dialled: number, answered: number }>(`
    SELECT (SELECT count(*) FROM attempts WHERE campaign_id = $1 AND outcome = 'lost')::int AS lost_attempts,
      (SELECT count(*) FROM calls WHERE campaign_id = $1 AND status = 'lost')::int AS lost_calls,
      (SELECT count(*) FROM attempts WHERE campaign_id = $1 AND outcome IS NULL)::int AS open,
      (SELECT count(*) FROM attempts WHERE campaign_id = $1 AND outcome = 'expired')::int AS expired,
      (SELECT count(*) FROM attempts WHERE campaign_id = $1 AND outcome IS NOT NULL AND outcome <> 'expired')::int AS dialled,
      (SELECT count(*) FROM attempts WHERE campaign_id = $1 AND outcome = 'answered')::int AS answered`, [campaignId])
  const lostInstances = inst.filter((r) => r.lost_at !== null || r.state === 'lost').length
  const drained = inst.filter((r) => r.end_reason === 'drained').length

  // Scaling out: the first decision that saw more load than the fleet, until the fleet it asked
  // for was ready; and the leases that expired undialled meanwhile (the fleet was the limit).
  const firstOut = decisions.find((x) => x.action === 'scale_out')
  // The decision is stored after its launches; its rows are written before them: the first
  // instance row of the campaign is when the controller decided.
  const firstLaunch = inst.find((r) => r.launched_at.getTime() >= t0)
  const firstOutSec = firstLaunch ? (firstLaunch.launched_at.getTime() - t0) / 1000 : firstOut ? (firstOut.at.getTime() - t0) / 1000 : Number.NaN
  const readyFor = (n: number) => samples.find((s) => s.t >= firstOutSec && s.ready >= n)?.t
  const outTarget = firstOut?.desired ?? 0
  const toTargetSec = firstOut ? (readyFor(outTarget) ?? Number.NaN) - firstOutSec : Number.NaN
  const peakNeed = Math.ceil(peakCalls / CAPACITY)
  const readyForPeakSec = readyFor(peakNeed)
  // Where the instance-seconds went: booting (until the first scale-out was ready), the ramp to
  // the peak, and the decay after it; actual against ideal in each.
  const phaseOf = (sec: number) => sec < firstOutSec + toTargetSec ? 0 : sec <= peakCallsAt ? 1 : 2
  const phases = [0, 1, 2].map(() => ({ actual: 0, ideal: 0, from: Number.NaN, to: Number.NaN }))
  for (let sec = 0; sec < seconds; sec++) {
    const ph = phases[phaseOf(sec)]!
    ph.actual += liveAt(t0 + sec * 1000 + 500)
    ph.ideal += Math.ceil((concurrency[sec] ?? 0) / CAPACITY)
    if (Number.isNaN(ph.from)) ph.from = sec
    ph.to = sec + 1
  }
  const targetReadyAt = t0 + (firstOutSec + toTargetSec) * 1000
  const [expired] = await q<{ before: number, after: number }>(`
    SELECT count(*) FILTER (WHERE leased_at < $2)::int AS before, count(*) FILTER (WHERE leased_at >= $2)::int AS after
    FROM attempts WHERE campaign_id = $1 AND outcome = 'expired'`, [campaignId, new Date(Number.isFinite(targetReadyAt) ? targetReadyAt : tEnd)])
  const callsAtTargetReady = concurrency[Math.round(firstOutSec + toTargetSec)] ?? Number.NaN
  // Placement: how far apart in time each instance's calls were leased (10th to 90th percentile),
  // the median over instances: the tighter, the sooner each instance empties in the decay.
  const [spread] = await q<{ median: number | null, p90: number | null, instances: number }>(`
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY span)::float8 AS median, percentile_cont(0.9) WITHIN GROUP (ORDER BY span)::float8 AS p90, count(*)::int AS instances
    FROM (SELECT instance_id, percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM leased_at)) - percentile_cont(0.1) WITHIN GROUP (ORDER BY extract(epoch FROM leased_at)) AS span
      FROM attempts WHERE campaign_id = $1 AND outcome = 'answered' GROUP BY instance_id HAVING count(*) >= 20) x`, [campaignId])
  // Dialling lasted until the last lease (the campaign completes only once its last call ended).
  const dialSec = leased.length > 0 ? leased.at(-1)!.s + 1 : 0
  const dialWindow = Array.from({ length: dialSec }, (_, s) => leased.find((r) => r.s === s)?.n ?? 0)
  const scaleInStart = decisions.find((x) => x.action === 'scale_in')
  const backAtMin = samples.find((s) => s.t > peakCallsAt && s.live <= MIN && s.draining === 0 && s.starting === 0)?.t
  const machineBusy = cpu1.total > cpu0.total ? round(((cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total)) * 100, 0) : Number.NaN
  const peakRss = Math.max(0, ...samples.map((s) => s.rssMb))

  // Drained instances: from the end of their last call to their termination (reacting to empty).
  const lags = (await q<{ lag: number }>(`
    SELECT extract(epoch FROM i.terminated_at - x.last_end)::float8 AS lag FROM instances i
    CROSS JOIN LATERAL (SELECT greatest((SELECT max(ended_at) FROM attempts WHERE instance_id = i.id), (SELECT max(ended_at) FROM calls WHERE instance_id = i.id)) AS last_end) x
    WHERE i.end_reason = 'drained' AND i.terminated_at >= $1 AND x.last_end IS NOT NULL`, [from])).map((r) => r.lag)

  // Per instance, its answered calls leased in each 5 s of the run: where placement put them.
  const placed = await q<{ instance_id: string, b: number, n: number }>(`
    SELECT instance_id, floor(extract(epoch FROM leased_at - $2::timestamptz) / 5)::int AS b, count(*)::int AS n
    FROM attempts WHERE campaign_id = $1 AND outcome = 'answered' GROUP BY 1, 2 ORDER BY 1, 2`, [campaignId, new Date(t0)])
  // And the spread of each instance's leases (every attempt), in seconds from the start.
  const leases = await q<{ instance_id: string, n: number, min: number, p10: number, p50: number, p90: number, max: number }>(`
    SELECT instance_id, count(*)::int AS n, min(s)::float8 AS min, percentile_cont(0.1) WITHIN GROUP (ORDER BY s)::float8 AS p10,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY s)::float8 AS p50, percentile_cont(0.9) WITHIN GROUP (ORDER BY s)::float8 AS p90, max(s)::float8 AS max
    FROM (SELECT instance_id, extract(epoch FROM leased_at - $2::timestamptz) AS s FROM attempts WHERE campaign_id = $1 AND outcome IS DISTINCT FROM 'expired') x
    GROUP BY 1 ORDER BY 2`, [campaignId, new Date(t0)])
  writeFileSync(join(sys.runDir, 'scaling.json'), JSON.stringify({ t0, samples, concurrency, channels, leased, decisions, instances: inst, placed, leases }, null, 1))

  // The timeline every 10 s: calls, ideal and actual fleet.
  console.log('\ntimeline (every 10 s from the campaign start):')
  const rows: Array<Record<string, string | number>> = []
  for (let s = 0; s < seconds; s += 10) {
    const smp = samples.reduce<Sample | undefined>((best, v) => v.t <= s + 0.999 ? v : best, undefined)
    rows.push({
      s,
      'calls (calls table)': concurrency[s] ?? 0,
      'leased/s': leased.find((r) => r.s === s)?.n ?? 0,
      'ideal instances': Math.ceil((concurrency[s] ?? 0) / CAPACITY),
      'ready / starting / draining': smp ? `${smp.ready} / ${smp.starting} / ${smp.draining}` : '-',
      'live instances': liveAt(t0 + s * 1000),
      'fleet RSS MB': smp ? Math.round(smp.rssMb) : '-',
    })
  }
  console.log(table(rows))

  console.log('\nscaling decisions (actions; holds are counted below):')
  const acted = decisions.filter((x) => x.action !== 'hold')
  if (acted.length > 0) {
    console.log(table(acted.map((x) => ({
      s: round((x.at.getTime() - t0) / 1000, 0),
      action: x.action,
      code: x.code,
      'observed -> desired': `${x.observed} -> ${x.desired}`,
      load: x.load,
      'live calls': x.live_calls,
      'demand (limited by)': x.campaign_demand > 0 ? `${x.campaign_demand} (${x.limited_by ?? '?'})` : 0,
      instances: x.instance_ids.length,
      'calls cut': x.calls_cut,
      reason: x.reason.slice(0, 140),
    }))))
  }
  console.log(`decisions by action/code: ${JSON.stringify(byAction)}`)

  const summary: Array<Record<string, string | number>> = [
    { measure: 'peak concurrent calls (calls table)', value: `${peakCalls} at ${peakCallsAt} s${peakCalls < 3000 ? ' (target ~3,000)' : ''}` },
    { measure: 'dialling', value: `${drops!.dialled} dialled (${drops!.answered} answered) in ${round(dialSec, 0)} s, ${round(pctl(dialWindow, 50), 0)} leased/s median (set ${RATE}); ${drops!.expired} expired leases, ${drops!.open} open` },
    { measure: 'calls cut by scale-in (drained instances\' calls_cut; terminate decisions)', value: `${callsCut}; ${decisionsCut}` },
    { measure: 'attempts settled lost on drained instances', value: drainLost!.n },
    { measure: 'attempts / calls settled lost in all', value: `${drops!.lost_attempts} / ${drops!.lost_calls} (instances lost: ${lostInstances}, their calls cut: ${lostCut})` },
    { measure: 'instances launched / drained and terminated', value: `${launchedDuring} / ${drained}` },
    { measure: 'peak instances (live / ready)', value: `${peakInstances} / ${peakReady} (the peak load needs ${peakNeed}; max ${MAX})` },
    { measure: 'instance-seconds: actual / ideal', value: `${Math.round(actualSec)} / ${idealSec} = ${round(actualSec / Math.max(1, idealSec), 2)}x (ideal with min ${MIN}: ${idealMinSec}, ${round(actualSec / Math.max(1, idealMinSec), 2)}x)` },
    { measure: 'instance-seconds / ideal by channels in use (every attempt from lease to end, ringing and unanswered too)', value: `${Math.round(actualSec)} / ${idealChannelSec} = ${round(actualSec / Math.max(1, idealChannelSec), 2)}x (peak ${Math.max(0, ...channels)} channels)` },
    { measure: 'drained instances: last call ended -> terminated (median / p90 / max)', value: lags.length ? `${round(pctl(lags, 50))} / ${round(pctl(lags, 90))} / ${round(Math.max(...lags))} s` : '-' },
    { measure: 'instance-seconds by phase: boot / ramp to peak / decay (actual / ideal)', value: phases.map((p) => Number.isNaN(p.from) ? '-' : `${p.from}-${p.to} s: ${p.actual} / ${p.ideal}`).join('; ') },
    { measure: 'first scale-out', value: firstOut ? `${round(firstOutSec)} s after the start, ${firstOut.observed} -> ${firstOut.desired} (${firstOut.code}: load ${firstOut.load}, ${firstOut.live_calls} live)` : 'none' },
    { measure: 'first scale-out decision -> its fleet ready', value: `${round(toTargetSec, 0)} s (${outTarget} ready)` },
    { measure: `campaign start -> ready for the peak's ${peakNeed} instances`, value: readyForPeakSec === undefined ? 'never' : `${round(readyForPeakSec, 0)} s (calls up when the first scale-out was ready: ${callsAtTargetReady})` },
    { measure: 'launch -> ready per instance (median / p90 / max)', value: `${round(pctl(bootSec, 50))} / ${round(pctl(bootSec, 90))} / ${round(Math.max(0, ...bootSec))} s` },
    { measure: 'leases expired undialled (contacts dialled again later): before / after the scale-out was ready', value: `${expired!.before} / ${expired!.after}` },
    { measure: 'first scale-in / back at min', value: `${scaleInStart ? `${round((scaleInStart.at.getTime() - t0) / 1000, 0)} s` : 'none'} / ${backAtMin === undefined ? 'not within the limit' : `${round(backAtMin, 0)} s`}` },
    { measure: 'placement: spread of each instance\'s answered calls in time (p10-p90 of leased_at; median / p90 over instances)', value: spread?.median == null ? '-' : `${round(spread.median)} / ${round(spread.p90 ?? Number.NaN)} s over ${spread.instances} instances` },
    { measure: 'decisions recorded / without a reason', value: `${decisions.length} in the run (${allDecisions.n} in all) / ${allDecisions.unexplained}` },
    { measure: 'machine busy (2 cores = 100%) / peak fleet RSS', value: `${machineBusy}% / ${Math.round(peakRss)} MB` },
  ]
  console.log()
  console.log(table(summary))
  const warnings = fleetWarnings(stateDir)
  if (warnings.length > 0) console.log(`\ninstances' logs, most frequent warnings/errors: ${warnings.join(' | ')}`)
  const ok = callsCut === 0 && decisionsCut === 0 && drainLost!.n === 0 && allDecisions.unexplained === 0
  console.log(`\nsummary: peak ${peakCalls} concurrent calls; fleet ${MIN} -> ${peakInstances} -> ${backAtMin === undefined ? '?' : MIN} instances; ` +
    `calls cut by scale-in ${callsCut}, attempts lost on drained instances ${drainLost!.n} (lost in all ${drops!.lost_attempts}, ${lostInstances} instances lost); instance-seconds ${Math.round(actualSec)} vs ideal ${idealSec} by answered calls (${round(actualSec / Math.max(1, idealSec), 2)}x), ${idealChannelSec} by channels in use (${round(actualSec / Math.max(1, idealChannelSec), 2)}x); ` +
    `${decisions.length} decisions, ${allDecisions.unexplained} without a reason; scale-out decision -> fleet ready ${round(toTargetSec, 0)} s, ` +
    `instance boot median ${round(pctl(bootSec, 50))} s; ${((Date.now() - started) / 1000).toFixed(0)} s in all; ${ok ? 'OK' : 'FAILED'}; data in ${join(sys.runDir, 'scaling.json')}`)
  // The same figures for programs (the scenario test reads them): BENCH_SUMMARY_FILE, else the run folder.
  writeFileSync(process.env.BENCH_SUMMARY_FILE || join(sys.runDir, 'summary.json'), JSON.stringify({
    ok,
    peakCalls,
    peakInstances,
    peakNeed,
    min: MIN,
    backAtMinSec: backAtMin ?? null,
    instanceSeconds: Math.round(actualSec),
    idealInstanceSeconds: idealSec,
    ratio: round(actualSec / Math.max(1, idealSec), 3),
    idealChannelInstanceSeconds: idealChannelSec,
    channelRatio: round(actualSec / Math.max(1, idealChannelSec), 3),
    peakChannels: Math.max(0, ...channels),
    terminateLagSec: lags.length ? { median: pctl(lags, 50), p90: pctl(lags, 90) } : null,
    callsCut,
    decisionsCallsCut: decisionsCut,
    drainedAttemptsLost: drainLost!.n,
    attemptsLost: drops!.lost_attempts,
    instancesLost: lostInstances,
    dialled: drops!.dialled,
    decisions: decisions.length,
    decisionsWithoutReason: allDecisions.unexplained,
    decisionCodes: byAction,
    launched: launchedDuring,
    drainedAndTerminated: drained,
    placementSpreadSec: spread ? { median: spread.median, p90: spread.p90 } : null,
  }, null, 1))
  if (!ok) process.exitCode = 1
} finally {
  await sys.close()
  const left = killLeftovers(stateDir)
  if (left > 0) log(`killed ${left} leftover simulated instances`)
  process.off('exit', onExit)
}
