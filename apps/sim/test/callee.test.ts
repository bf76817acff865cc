import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  createClock, createRng, defaultProfile, drawAmd, drawCallee, drawDial, drawGather, drawOriginate, resolveProfile, SimError,
} from '../src/app.ts'

function rates<K extends string> (draws: K[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const d of draws) out[d] = (out[d] ?? 0) + 1 / draws.length
  return out
}

test('the same seed gives the same callees, a different seed different ones', () => {
  const p = defaultProfile()
  const run = (seed: number | string) => {
    const rng = createRng(seed)
    return Array.from({ length: 200 }, () => {
      const o = drawOriginate(rng, p, 30)
      const c = drawCallee(rng, p, false)
      const g = drawGather(rng, p, c, ['poll'], 1, 5)
      return `${o.outcome}:${o.ringSec.toFixed(3)}:${c.machine}:${c.hangupAtSec}:${g.digits}:${g.status}`
    })
  }
  assert.deepEqual(run(42), run(42))
  assert.deepEqual(run('campaign-a'), run('campaign-a'))
  assert.notDeepEqual(run(42), run(43))
  // Forked streams are reproducible too, and independent of each other.
  const a = createRng(9).fork(1)
  const b = createRng(9).fork(1)
  const c = createRng(9).fork(2)
  const seq = (r: typeof a) => Array.from({ length: 5 }, () => r.next())
  assert.deepEqual(seq(a), seq(b))
  assert.notDeepEqual(seq(createRng(9).fork(1)), seq(c))
})

test('originate outcomes over 10k draws match the profile\'s rates within 1.5 points', () => {
  const p = resolveProfile({ outcomes: { answer: 60, busy: 15, noanswer: 10, congestion: 10, unavailable: 5 }, ring: { medianSec: 5, sigma: 0.3, maxSec: 20 } })
  const rng = createRng(1)
  const r = rates(Array.from({ length: 10000 }, () => drawOriginate(rng, p, 60).outcome))
  for (const [k, want] of Object.entries({ answer: 0.6, busy: 0.15, noanswer: 0.1, congestion: 0.1, unavailable: 0.05 })) {
    assert.ok(Math.abs((r[k] ?? 0) - want) < 0.015, `${k}: ${r[k]} vs ${want}`)
  }
})

test('a callee who would ring past the originate timeout is a no answer', () => {
  const p = resolveProfile({ outcomes: { answer: 1, busy: 0, noanswer: 0, congestion: 0, unavailable: 0 }, ring: { medianSec: 20, sigma: 0, maxSec: 60 } })
  const d = drawOriginate(createRng(5), p, 10)
  assert.equal(d.outcome, 'noanswer')
  assert.equal(d.ringSec, 10)
})

test('a poll prompt gets 55/45 votes and no-input at the configured rate over 10k callers', () => {
  const p = resolveProfile({ machineRate: 0, gather: { noInputRate: 0.1, byPrompt: { 'camp/poll': { 1: 55, 2: 45 } } } })
  const rng = createRng(77)
  const human = drawCallee(rng, p, true)
  const r = rates(Array.from({ length: 10000 }, () => drawGather(rng, p, human, ['/var/lib/asterisk/sounds/federate/camp/poll'], 1, 10).digits || 'none'))
  assert.ok(Math.abs(r.none! - 0.1) < 0.015, `no input ${r.none}`)
  assert.ok(Math.abs(r['1']! - 0.55 * 0.9) < 0.015, `votes for 1: ${r['1']}`)
  assert.ok(Math.abs(r['2']! - 0.45 * 0.9) < 0.015, `votes for 2: ${r['2']}`)
  // Other prompts fall back to the default digits 0-9.
  const other = new Set(Array.from({ length: 500 }, () => drawGather(rng, p, human, ['/x/menu'], 1, 10).digits))
  assert.ok(other.size >= 10)
})

test('machines and AMD verdicts follow the machine rate and accuracy', () => {
  const p = resolveProfile({ machineRate: 0.3, amd: { accuracy: 0.9, notSureRate: 0 } })
  const rng = createRng(11)
  const callees = Array.from({ length: 10000 }, () => drawCallee(rng, p, false))
  const machineShare = callees.filter((c) => c.machine).length / callees.length
  assert.ok(Math.abs(machineShare - 0.3) < 0.015, `machines ${machineShare}`)
  const verdicts = callees.map((c) => drawAmd(rng, p, c, 5000))
  const saidMachine = verdicts.filter((v) => v.status === 'MACHINE').length / verdicts.length
  // 0.3 * 0.9 + 0.7 * 0.1 = 0.34
  assert.ok(Math.abs(saidMachine - 0.34) < 0.015, `said machine ${saidMachine}`)
  assert.ok(verdicts.filter((v) => v.status === 'MACHINE').every((v) => /^(LONGGREETING|MAXWORDS|MAXWORDLENGTH)-\d+-\d+$/.test(v.cause)))
  // Inbound callers are never answering machines.
  assert.ok(Array.from({ length: 1000 }, () => drawCallee(rng, p, true)).every((c) => !c.machine))
})

test('callers hang up mid-flow at the configured rate; dialled parties talk when they answer', () => {
  const p = resolveProfile({ machineRate: 0, hangup: { rate: 0.2 } })
  const rng = createRng(3)
  const hangers = Array.from({ length: 10000 }, () => drawCallee(rng, p, false)).filter((c) => Number.isFinite(c.hangupAtSec)).length / 10000
  assert.ok(Math.abs(hangers - 0.2) < 0.015, `hang-ups ${hangers}`)
  const dials = Array.from({ length: 10000 }, () => drawDial(rng, p, 30))
  const answered = dials.filter((d) => d.status === 'ANSWER')
  assert.ok(Math.abs(answered.length / 10000 - 0.75) < 0.02)
  assert.ok(answered.every((d) => d.talkSec > 0))
  assert.ok(dials.filter((d) => d.status !== 'ANSWER').every((d) => d.talkSec === 0))
})

test('a profile names only what it changes, and a wrong field is refused with its path', () => {
  const p = resolveProfile({ gather: { digits: { 7: 1 } } })
  assert.deepEqual(p.gather.digits, { 7: 1 }, 'weight maps replace the default')
  assert.equal(p.gather.noInputRate, defaultProfile().gather.noInputRate)
  assert.throws(() => resolveProfile({ machineRate: 2 }), (e: unknown) => e instanceof SimError && e.code === 'FED_SIM_BAD_PROFILE' && /machineRate/.test(e.message))
  assert.throws(() => resolveProfile({ gather: { digits: { abc: 1 } } }), SimError)
  assert.throws(() => resolveProfile([] as unknown), SimError)
})

test('the clock compresses simulated time by its speed', async () => {
  const clock = createClock({ speed: 10 })
  const t0 = performance.now()
  const order: number[] = []
  clock.after(2000, () => order.push(2))
  clock.after(1000, () => order.push(1))
  const cancelled = clock.after(1500, () => order.push(99))
  cancelled.cancel()
  await clock.sleep(3000)
  const real = performance.now() - t0
  assert.deepEqual(order, [1, 2])
  assert.ok(real >= 290 && real < 2000, `3 simulated seconds took ${real} ms`)
  assert.ok(clock.now() >= 2900)
  assert.equal(clock.pending(), 0)
  clock.close()
  clock.close()
  assert.throws(() => createClock({ speed: 0 }), RangeError)
})
