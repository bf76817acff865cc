import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

// The scaling scenario through its real interface, scaled down to fit the test suite: the
// bench (`pnpm bench:scaling`) with a fresh database, an app server, the controller and the local
// provider starting one real `federate sim` process per instance. A campaign ramps up to ~250
// concurrent calls on instances of 20 channels and ends; the fleet must grow from min to what
// the load needs and back, cut no call, settle no attempt lost, give every decision a reason, and
// stay near the ideal instance-seconds. The 3,000-call run is in docs/benchmarks.md.

const BENCH = new URL('../../scripts/bench/scaling.ts', import.meta.url).pathname

interface Summary {
  ok: boolean
  peakCalls: number
  peakInstances: number
  peakNeed: number
  min: number
  backAtMinSec: number | null
  instanceSeconds: number
  idealInstanceSeconds: number
  ratio: number
  callsCut: number
  decisionsCallsCut: number
  drainedAttemptsLost: number
  attemptsLost: number
  instancesLost: number
  dialled: number
  decisions: number
  decisionsWithoutReason: number
  decisionCodes: Record<string, number>
  launched: number
  drainedAndTerminated: number
  channelRatio: number
  terminateLagSec: { median: number, p90: number } | null
}

test('a campaign grows the local fleet from min to its peak and back, cutting no call, near the ideal cost', { timeout: 360_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fed-scaling-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const summaryFile = join(dir, 'summary.json')
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', BENCH], {
    env: {
      ...process.env,
      BENCH_RATE: '10',
      BENCH_DIAL_SECONDS: '25',
      BENCH_HOLD_SEC: '25',
      BENCH_CAPACITY: '20',
      BENCH_MIN: '1',
      BENCH_MAX: '25',
      BENCH_SERVERS: '1',
      // The product's default period: an empty instance must not wait for the next pass.
      BENCH_RECONCILE_MS: '5000',
      BENCH_STABILISATION_SEC: '10',
      BENCH_LIMIT_SEC: '240',
      BENCH_SUMMARY_FILE: summaryFile,
    },
    timeout: 340_000,
    maxBuffer: 32 * 1024 * 1024,
  }).catch((err: Error & { stdout?: string }) => {
    throw new Error(`bench:scaling failed: ${err.message}\n${err.stdout?.slice(-4000) ?? ''}`)
  })
  const s = JSON.parse(readFileSync(summaryFile, 'utf8')) as Summary
  const context = `\n${JSON.stringify(s)}\n${stdout.slice(-3000)}`

  assert.equal(s.ok, true, `the bench's own checks${context}`)
  assert.equal(s.dialled, 250, `every contact dialled${context}`)
  assert.ok(s.peakCalls >= 180, `the campaign ramped up (peak ${s.peakCalls})${context}`)
  // Scale-in never cut a call; nothing was lost.
  assert.equal(s.callsCut, 0)
  assert.equal(s.decisionsCallsCut, 0)
  assert.equal(s.drainedAttemptsLost, 0)
  assert.equal(s.attemptsLost, 0)
  assert.equal(s.instancesLost, 0)
  // The fleet grew from min to what the peak needs (within max) and came back to min.
  assert.ok(s.peakInstances >= s.peakNeed && s.peakInstances <= 25, `peak fleet ${s.peakInstances}, need ${s.peakNeed}${context}`)
  assert.notEqual(s.backAtMinSec, null, `back at min${context}`)
  assert.equal(s.launched, s.drainedAndTerminated, 'every instance launched was drained and terminated')
  assert.ok((s.decisionCodes['scale_out/load_up'] ?? 0) > 0 && (s.decisionCodes['scale_in/load_down'] ?? 0) > 0, JSON.stringify(s.decisionCodes))
  assert.equal(s.decisionsWithoutReason, 0)
  // The cost against the integral of ceil(load / capacity): 1.53x measured on an idle machine
  // (1.39x against channels in use; at this small scale filling and emptying each instance and
  // rounding up weigh more than at 3,000 calls, where it is 1.29x); the bound leaves room for a
  // busy CI machine, while a fleet launched for the steady state at once (15 instances from the
  // first second, ~2.6x by the same integral) fails.
  assert.ok(s.ratio <= 2, `instance-seconds ${s.instanceSeconds} vs ideal ${s.idealInstanceSeconds} (${s.ratio}x)${context}`)
  assert.ok(s.channelRatio <= s.ratio, `channels in use are at least the answered calls${context}`)
  // An empty instance is terminated as its heartbeat reports it (NOTIFY), not at the next pass
  // 5 s later: 0.5 s median measured; without the NOTIFY it was 3.5 s (and the cost 1.69x).
  assert.ok(s.terminateLagSec !== null && s.terminateLagSec.median <= 1.5, `last call -> terminated ${JSON.stringify(s.terminateLagSec)}${context}`)
})
