// Soak: the whole system carrying SOAK_CALLS concurrent simulated calls (default 1,000) for
// SOAK_MINUTES (default 30), sampled every SOAK_SAMPLE_SEC (default 10): the callers' error rate
// (sorry paths, AGI errors), the tier's fault rate, p99 call.step latency from the servers'
// /metrics histograms, and the RSS of every process (app servers, simulated fleet). At the end a
// straight line is fitted to each process's memory after the warm-up and its growth per hour is
// reported. Exits 1 when the error rate is above 0.1 % or a process's memory grows more than
// 20 % per hour. Not part of CI: run it on a quiet machine.
//
//   pnpm soak                                   # 30 minutes, 1,000 calls
//   SOAK_MINUTES=3 pnpm soak                    # a short check that it works
//   SOAK_CALLS=300 SOAK_SERVERS=2 pnpm soak
//   (also SOAK_SAMPLE_SEC, SOAK_INSTANCES, SOAK_WARMUP_SEC: samples left out of the memory trend)
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs'
import { chmod } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { issueInstanceToken } from '@federate/db'
import { startSystem, ROOT } from '../test/helpers/system.ts'
import { bucketDelta, bucketsOf, histogramQuantile, scrape, type Sample } from '../test/helpers/faults.ts'

const num = (name: string, dflt: number): number => {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return dflt
  const n = Number(raw)
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`${name} must be a positive number, got ${JSON.stringify(raw)}`)
    process.exit(2)
  }
  return n
}

const MINUTES = num('SOAK_MINUTES', 30)
const CALLS = Math.round(num('SOAK_CALLS', 1000))
const SAMPLE_SEC = num('SOAK_SAMPLE_SEC', 10)
const SERVERS = Math.round(num('SOAK_SERVERS', 2))
const INSTANCES = Math.round(num('SOAK_INSTANCES', Math.max(2, Math.ceil(CALLS / 100))))
// Samples before this are left out of the memory trend (default: 1.5 call lengths or 10 % of the run).
const WARMUP_SEC = process.env.SOAK_WARMUP_SEC ? num('SOAK_WARMUP_SEC', 1) : undefined
const MAX_ERROR_RATE = 0.001
const MAX_GROWTH_PER_HOUR = 0.20
const NUMBER = '+15550900'

// A call: a prompt, a one-digit menu (stored), four prompts, hang up. With 8 s prompts and ~2 s
// to answer the menu it lasts ~50 s of real time and makes 7 steps and one call.end.
const PROMPT_SEC = 8
const THINK_SEC = 2
const CALL_SEC = PROMPT_SEC * 6 + THINK_SEC
const FLOW = {
  format: 'federate.flow/1',
  name: 'Soak line',
  start: 'welcome',
  nodes: {
    welcome: { type: 'play', prompts: ['soak/welcome'], next: 'menu' },
    menu: { type: 'gather', prompts: ['soak/menu'], maxDigits: 1, timeoutSec: 10, retries: 1, validDigits: ['1', '2'], branches: { 1: 'a', 2: 'a' }, saveAs: 'choice', noInput: 'a', invalid: 'a' },
    a: { type: 'play', prompts: ['soak/a'], next: 'b' },
    b: { type: 'play', prompts: ['soak/b'], next: 'c' },
    c: { type: 'play', prompts: ['soak/c'], next: 'd' },
    d: { type: 'play', prompts: ['soak/d'], next: 'end' },
    end: { type: 'hangup' },
  },
}
const PROFILE = {
  hangup: { rate: 0 },
  play: { promptSec: PROMPT_SEC, interruptRate: 0 },
  gather: { noInputRate: 0, think: { medianSec: THINK_SEC, sigma: 0.2, maxSec: 5 }, byPrompt: { 'soak/menu': { 1: 1, 2: 1 } } },
}

interface FleetLine {
  elapsedSec: number
  started: { inbound: number }
  ended: Record<string, number>
  sorry: number
  agiErrors: number
  steps: number
  active: number
  inboundRejected: number
}

interface Row {
  t: number
  active: number
  callsEnded: number
  sorry: number
  agiErrors: number
  rejected: number
  steps: number
  faults: number
  answers: number
  p99Ms: number
  rss: Record<string, number>
}

function rssMb (pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : Number.NaN
  } catch {
    return Number.NaN
  }
}

/** Least-squares slope and intercept of y over x. */
function fit (xs: number[], ys: number[]): { slope: number, intercept: number } {
  const n = xs.length
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let sxy = 0
  let sxx = 0
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my)
    sxx += (xs[i]! - mx) ** 2
  }
  const slope = sxx === 0 ? 0 : sxy / sxx
  return { slope, intercept: my - slope * mx }
}

function table (rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join('  ')).join('\n')
}

const pct = (x: number, digits = 3): string => Number.isFinite(x) ? `${(x * 100).toFixed(digits)} %` : '-'

async function main (): Promise<number> {
  const cps = CALLS / CALL_SEC
  const capacity = Math.ceil(CALLS * 1.5 / INSTANCES)
  console.log(`soak: ${CALLS} concurrent calls (${cps.toFixed(1)} calls/s of ~${CALL_SEC} s), ${INSTANCES} instances × ${capacity} channels, ${SERVERS} servers, ${MINUTES} min, a sample every ${SAMPLE_SEC} s`)
  const sys = await startSystem({ name: 'soak', servers: SERVERS, instances: 0, logLevel: 'warn' })
  let fleet: ChildProcess | undefined
  const stopAll = async (): Promise<void> => {
    if (fleet && fleet.exitCode === null && fleet.signalCode === null) {
      fleet.kill('SIGTERM')
      await Promise.race([new Promise((resolve) => fleet!.once('exit', resolve)), sleep(30_000)])
      fleet.kill('SIGKILL')
    }
    await sys.close()
  }
  process.once('SIGINT', () => { stopAll().finally(() => process.exit(130)) })
  try {
    await sys.publishFlow(FLOW, [NUMBER], 'soak')
    const prefix = 'soak-'
    const ids = Array.from({ length: INSTANCES }, (_, i) => `${prefix}${i + 1}`)
    const tokens: Record<string, string> = {}
    for (const id of ids) tokens[id] = await issueInstanceToken(sys.pool, id)
    const tokensFile = join(sys.runDir, 'soak-tokens.json')
    writeFileSync(tokensFile, JSON.stringify(tokens), { mode: 0o600 })
    await chmod(tokensFile, 0o600)
    const profileFile = join(sys.runDir, 'soak-profile.json')
    writeFileSync(profileFile, JSON.stringify(PROFILE))
    const logFile = join(sys.runDir, 'fleet.log')
    const log = createWriteStream(logFile, { flags: 'a' })
    fleet = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'apps/cli/src/main.ts'), 'sim',
      '--instances', String(INSTANCES), '--capacity', String(capacity), '--speed', '1', '--seed', 'soak',
      '--inbound-cps', cps.toFixed(3), '--number', NUMBER,
      '--servers', sys.servers.map((s) => s.rpcUrl).join(','), '--tokens-file', tokensFile, '--id-prefix', prefix,
      '--work-dir', join(sys.runDir, 'fleet'), '--no-check-prompts', '--profile', profileFile,
      '--stats-every', String(Math.min(5, SAMPLE_SEC)), '--grace', '5', '--log-level', 'warn', '--json'],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
    let latest: FleetLine | undefined
    const state = { started: false }
    createInterface({ input: fleet.stderr! }).on('line', (line) => {
      log.write(line + '\n')
      if (!line.startsWith('{')) return
      try {
        const j = JSON.parse(line)
        if (j.type === 'started') state.started = true
        else if (j.type === 'stats') latest = j
      } catch {}
    })
    const t0 = Date.now()
    while (!state.started) {
      if (fleet.exitCode !== null) throw new Error(`the fleet exited (${fleet.exitCode}); see ${logFile}`)
      if (Date.now() - t0 > 60_000) throw new Error(`the fleet did not start; see ${logFile}`)
      await sleep(200)
    }
    console.log(`soak: running; logs in ${sys.runDir}`)

    const pids = (): Record<string, number> => ({ ...Object.fromEntries(sys.servers.map((s) => [`server-${s.index + 1}`, s.pid])), fleet: fleet!.pid ?? -1 })
    const rows: Row[] = []
    let prevBuckets: Map<number, number> | undefined
    const start = Date.now()
    const end = start + MINUTES * 60_000
    const header = ['t', 'active', 'ended', 'sorry', 'agiErr', 'faults', 'p99 step', ...Object.keys(pids()).map((k) => `${k} MB`)]
    console.log(header.join('\t'))
    while (Date.now() < end) {
      await sleep(Math.min(SAMPLE_SEC * 1000, Math.max(0, end - Date.now())))
      if (fleet.exitCode !== null || fleet.signalCode !== null) throw new Error(`the fleet died (${fleet.signalCode ?? fleet.exitCode}); see ${logFile}`)
      const m = await scrape(sys.servers.map((s) => s.url))
      const buckets = bucketsOf(m, 'federate_rpc_duration_seconds', { method: 'call.step' })
      const p99 = histogramQuantile(0.99, bucketDelta(buckets, prevBuckets)) * 1000
      prevBuckets = buckets
      const count = (samples: Sample[], ok: boolean): number => samples
        .filter((s) => s.name === 'federate_rpc_duration_seconds_count' && (s.labels.method === 'call.step' || s.labels.method === 'call.end') && (s.labels.outcome === 'ok') === ok)
        .reduce((a, s) => a + s.value, 0)
      const f = latest
      const ended = f ? Object.values(f.ended).reduce((a, b) => a + b, 0) : 0
      const row: Row = {
        t: Math.round((Date.now() - start) / 1000),
        active: f?.active ?? 0,
        callsEnded: ended,
        sorry: f?.sorry ?? 0,
        agiErrors: f?.agiErrors ?? 0,
        rejected: f?.inboundRejected ?? 0,
        steps: f?.steps ?? 0,
        faults: count(m, false),
        answers: count(m, false) + count(m, true),
        p99Ms: p99,
        rss: Object.fromEntries(Object.entries(pids()).map(([k, pid]) => [k, rssMb(pid)])),
      }
      rows.push(row)
      const prev = rows.at(-2)
      console.log([`${row.t}s`, row.active, row.callsEnded - (prev?.callsEnded ?? 0), row.sorry - (prev?.sorry ?? 0), row.agiErrors - (prev?.agiErrors ?? 0),
        row.faults - (prev?.faults ?? 0), Number.isFinite(p99) ? `${p99.toFixed(1)} ms` : '-', ...Object.values(row.rss).map((x) => x.toFixed(0))].join('\t'))
    }

    // The verdict: error rates over the whole run, memory trends after the warm-up (the calls
    // ramp up for one call's length; the first samples also hold JIT and pool warm-up).
    const last = rows.at(-1)!
    const callerErrorRate = last.callsEnded > 0 ? (last.sorry + last.agiErrors) / last.callsEnded : Number.NaN
    const faultRate = last.answers > 0 ? last.faults / last.answers : Number.NaN
    const warmupSec = WARMUP_SEC ?? Math.min(Math.max(CALL_SEC * 1.5, MINUTES * 60 * 0.1), MINUTES * 60 * 0.5)
    const steady = rows.filter((r) => r.t >= warmupSec)
    const trend: Record<string, { startMb: number, endMb: number, perHour: number }> = {}
    for (const name of Object.keys(last.rss)) {
      const pts = steady.filter((r) => Number.isFinite(r.rss[name]))
      if (pts.length < 3) continue
      const { slope, intercept } = fit(pts.map((r) => r.t), pts.map((r) => r.rss[name]!))
      const base = intercept + slope * pts[0]!.t
      trend[name] = { startMb: base, endMb: intercept + slope * pts.at(-1)!.t, perHour: base > 0 ? slope * 3600 / base : Number.NaN }
    }
    const steadyActive = steady.map((r) => r.active)
    const p99s = rows.map((r) => r.p99Ms).filter(Number.isFinite).sort((a, b) => a - b)
    console.log(`\nsoak: ${MINUTES} min, ${last.callsEnded} calls ended, ${last.steps} steps; concurrent calls after the warm-up (${Math.round(warmupSec)} s): min ${Math.min(...steadyActive)}, max ${Math.max(...steadyActive)}; inbound refused at capacity: ${last.rejected}\n`)
    console.log(table([
      ['measure', 'value', 'limit', 'verdict'],
      ['caller error rate (sorry + AGI errors) / calls', pct(callerErrorRate), pct(MAX_ERROR_RATE, 1), callerErrorRate <= MAX_ERROR_RATE ? 'ok' : 'FAIL'],
      ['tier fault rate (call.step + call.end)', pct(faultRate), pct(MAX_ERROR_RATE, 1), faultRate <= MAX_ERROR_RATE ? 'ok' : 'FAIL'],
      ['p99 call.step, median / worst 10 s window', `${(p99s[Math.floor(p99s.length / 2)] ?? Number.NaN).toFixed(1)} / ${(p99s.at(-1) ?? Number.NaN).toFixed(1)} ms`, '-', '-'],
      ...Object.entries(trend).map(([name, x]) => [`RSS ${name}: fitted start → end, growth per hour`, `${x.startMb.toFixed(0)} → ${x.endMb.toFixed(0)} MB, ${(x.perHour * 100).toFixed(1)} %/h`, `${MAX_GROWTH_PER_HOUR * 100} %/h`, x.perHour <= MAX_GROWTH_PER_HOUR ? 'ok' : 'FAIL']),
    ]))
    writeFileSync(join(sys.runDir, 'soak.json'), JSON.stringify({ minutes: MINUTES, calls: CALLS, instances: INSTANCES, servers: SERVERS, warmupSec, callerErrorRate, faultRate, trend, rows }, null, 2))
    console.log(`\nsamples: ${join(sys.runDir, 'soak.json')}`)
    const failed = !(callerErrorRate <= MAX_ERROR_RATE) || !(faultRate <= MAX_ERROR_RATE) || Object.values(trend).some((x) => !(x.perHour <= MAX_GROWTH_PER_HOUR))
    return failed ? 1 : 0
  } finally {
    await stopAll()
  }
}

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  console.error(`soak failed: ${err instanceof Error ? err.stack : String(err)}`)
  process.exitCode = 1
})
