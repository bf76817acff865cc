import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { checkPolicyConfig, decide, initialPolicyState, simulate, type Observation, type PolicyConfig, type PolicyState } from '../src/index.ts'

const config: PolicyConfig = { min: 2, max: 40, callsPerInstance: 100, headroom: 0.1, scaleInStabilisationSec: 180, scaleInTolerance: 0.05 }
const fleet = (o: Partial<Observation> & { at: number }): Observation => ({ liveCalls: 0, ready: 0, starting: 0, draining: 0, ...o })

// Runs decisions at the given times, carrying the state like the controller does.
function run (c: PolicyConfig, obs: Observation[], state: PolicyState = initialPolicyState()) {
  const out = []
  for (const o of obs) {
    const r = decide(c, state, o)
    state = r.state
    out.push(r.decision)
  }
  return { decisions: out, state }
}

// mulberry32: seeded noise, so a failure repeats.
function prng (seed: number) {
  return () => {
    seed = (seed + 0x6D2B79F5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

test('a step up in load is met in the same decision, and instances still starting count as capacity', () => {
  const { decisions } = run(config, [
    fleet({ at: 0, liveCalls: 150, ready: 2 }),
    fleet({ at: 10_000, liveCalls: 2500, ready: 2 }),
    // The next period: 26 launched are still starting; nothing more is launched.
    fleet({ at: 20_000, liveCalls: 2500, ready: 2, starting: 26 }),
  ])
  assert.equal(decisions[0]!.action, 'hold')
  assert.equal(decisions[0]!.code, 'steady')
  assert.equal(decisions[1]!.action, 'scale_out')
  assert.equal(decisions[1]!.code, 'load_up')
  assert.equal(decisions[1]!.desired, 28) // ceil(2500 * 1.1 / 100)
  assert.equal(decisions[1]!.launch, 26)
  assert.match(decisions[1]!.reason, /load 2500 calls \+10% headroom needs 28 instances of 100; have 2 ready \+ 0 starting: launch 26/)
  assert.equal(decisions[2]!.action, 'hold')
  assert.equal(decisions[2]!.launch, 0)
})

test('scale-in waits a full stabilisation window, then drains down to the window\'s highest need', () => {
  const obs = [fleet({ at: 0, liveCalls: 2000, ready: 22 })]
  // Load falls to 1000 at 10 s and stays there.
  for (let t = 10; t <= 200; t += 10) obs.push(fleet({ at: t * 1000, liveCalls: 1000, ready: 22 }))
  const { decisions } = run(config, obs)
  const firstIn = decisions.findIndex((d) => d.action === 'scale_in')
  assert.equal(decisions.slice(1, firstIn).every((d) => d.action === 'hold' && d.code === 'stabilising'), true)
  // The 2000-call observation at 0 s leaves the window at 180 s.
  assert.equal(decisions[firstIn]!.at, 180_000)
  assert.equal(decisions[firstIn]!.code, 'load_down')
  assert.equal(decisions[firstIn]!.desired, 12) // ceil(1000 * 1.15 / 100)
  assert.equal(decisions[firstIn]!.drain, 10)
  assert.match(decisions[1]!.reason, /keeping them until the lower load lasts 180 s \(170 s left\)/)
})

test('a fresh state (a new leader) waits one whole window before it scales in', () => {
  const obs = []
  for (let t = 0; t <= 200; t += 10) obs.push(fleet({ at: 1_000_000 + t * 1000, liveCalls: 100, ready: 20 }))
  const { decisions } = run(config, obs)
  assert.equal(decisions.findIndex((d) => d.action === 'scale_in'), 18)
  assert.equal(decisions[18]!.at - decisions[0]!.at, 180_000)
})

test('a load inside the tolerance band neither scales in nor out', () => {
  // 22 instances: 1950 calls need 22 with 10 %, and 23 with 15 %: keep 22.
  const obs = []
  for (let t = 0; t <= 600; t += 10) obs.push(fleet({ at: t * 1000, liveCalls: 1950 - (t % 20), ready: 22 }))
  const { decisions } = run(config, obs)
  assert.equal(decisions.every((d) => d.action === 'hold'), true)
})

test('draining instances are put back into service before new ones are launched', () => {
  const { decisions } = run(config, [fleet({ at: 0, liveCalls: 700, campaignDemand: 300, ready: 8, draining: 3 })])
  assert.equal(decisions[0]!.action, 'scale_out')
  assert.equal(decisions[0]!.undrain, 3)
  assert.equal(decisions[0]!.launch, 0)
  assert.match(decisions[0]!.reason, /undrain 3/)
})

test('campaign demand scales out before its calls arrive, without counting its live calls twice', () => {
  const a = decide(config, initialPolicyState(), fleet({ at: 0, liveCalls: 100, ready: 2, campaignDemand: 1900 })).decision
  assert.equal(a.load, 2000)
  // 100 inbound with 10 % headroom, 1,900 campaign calls as forecast: 2,010 channels.
  assert.equal(a.desired, 21)
  // 600 of the 700 live calls are the campaign's; it will hold 1900: 100 + 1900.
  const b = decide(config, initialPolicyState(), fleet({ at: 0, liveCalls: 700, campaignLiveCalls: 600, campaignDemand: 1900, ready: 8 })).decision
  assert.equal(b.load, 2000)
  // Demand below what is already up: the live calls count.
  const c = decide(config, initialPolicyState(), fleet({ at: 0, liveCalls: 700, campaignLiveCalls: 600, campaignDemand: 100, ready: 8 })).decision
  assert.equal(c.load, 700)
})

test('min, max and instances above max: below min launches, above max drains at once', () => {
  const low = decide(config, initialPolicyState(), fleet({ at: 0, liveCalls: 0, ready: 0 })).decision
  assert.equal(low.code, 'below_min')
  assert.equal(low.launch, 2)
  const capped = decide(config, initialPolicyState(), fleet({ at: 0, liveCalls: 100_000, ready: 30 })).decision
  assert.equal(capped.code, 'at_max')
  assert.equal(capped.desired, 40)
  assert.equal(capped.launch, 10)
  const held = decide(config, initialPolicyState(), fleet({ at: 0, liveCalls: 100_000, ready: 40 })).decision
  assert.equal(held.action, 'hold')
  assert.equal(held.code, 'at_max')
  // max lowered to 40 while 45 run: no window for that.
  const above = decide(config, initialPolicyState(), fleet({ at: 0, liveCalls: 4000, ready: 45 })).decision
  assert.equal(above.action, 'scale_in')
  assert.equal(above.code, 'above_max')
  assert.equal(above.drain, 5)
})

test('an excess that is still starting is not drained, and maxScaleInStep bounds a drain', () => {
  const c = { ...config, scaleInStabilisationSec: 0 }
  const starting = decide(c, initialPolicyState(), fleet({ at: 0, liveCalls: 100, ready: 2, starting: 5 })).decision
  assert.equal(starting.action, 'hold')
  assert.equal(starting.code, 'wait_starting')
  const stepped = decide({ ...c, maxScaleInStep: 3 }, initialPolicyState(), fleet({ at: 0, liveCalls: 100, ready: 20 })).decision
  assert.equal(stepped.drain, 3)
})

test('over any observations the policy stays within min and max and never drains what it does not have', () => {
  fc.assert(fc.property(
    fc.record({ min: fc.integer({ min: 0, max: 5 }), span: fc.integer({ min: 1, max: 50 }), headroom: fc.double({ min: 0, max: 1, noNaN: true }), window: fc.integer({ min: 0, max: 600 }) }),
    fc.array(fc.record({ dt: fc.integer({ min: 1, max: 60 }), live: fc.integer({ min: 0, max: 10_000 }), demand: fc.integer({ min: 0, max: 10_000 }), ready: fc.integer({ min: 0, max: 80 }), starting: fc.integer({ min: 0, max: 20 }), draining: fc.integer({ min: 0, max: 20 }) }), { minLength: 1, maxLength: 40 }),
    (p, steps) => {
      const c: PolicyConfig = { min: p.min, max: p.min + p.span, callsPerInstance: 100, headroom: p.headroom, scaleInStabilisationSec: p.window }
      let state = initialPolicyState()
      let at = 0
      for (const s of steps) {
        at += s.dt * 1000
        const r = decide(c, state, fleet({ at, liveCalls: s.live, campaignDemand: s.demand, ready: s.ready, starting: s.starting, draining: s.draining }))
        state = r.state
        const d = r.decision
        assert.ok(d.desired >= c.min && d.desired <= c.max, `desired ${d.desired} outside [${c.min}, ${c.max}]`)
        assert.ok(d.drain <= s.ready && d.undrain <= s.draining)
        const after = s.ready + s.starting + d.launch + d.undrain - d.drain
        if (d.action === 'scale_out') assert.equal(after, d.desired)
        if (d.action === 'scale_in') assert.ok(after >= c.min && after >= d.desired)
        if (d.action === 'hold') assert.equal(d.launch + d.undrain + d.drain, 0)
        assert.ok(d.reason.length > 0)
      }
    }
  ), { numRuns: 300 })
})

test('bad configurations and observations are refused with the field named', () => {
  assert.throws(() => checkPolicyConfig({ ...config, min: 5, max: 3 }), { code: 'FED_SCALER_INVALID_CONFIG', message: /max \(3\) is below min \(5\)/ })
  assert.throws(() => checkPolicyConfig({ ...config, callsPerInstance: 0 }), /callsPerInstance/)
  assert.throws(() => checkPolicyConfig({ ...config, headroom: -0.1 }), /headroom/)
  assert.throws(() => checkPolicyConfig({ ...config, min: 1.5 }), /min must be an integer/)
  assert.throws(() => decide(config, initialPolicyState(), fleet({ at: 0, liveCalls: -1 })), { code: 'FED_SCALER_INVALID_INPUT', message: /liveCalls/ })
  assert.throws(() => decide(config, initialPolicyState(), fleet({ at: 0, ready: Number.NaN })), /ready/)
  assert.throws(() => decide(config, initialPolicyState(), fleet({ at: 0, campaignDemand: -5 })), /campaignDemand/)
  assert.doesNotThrow(() => checkPolicyConfig(config))
})

// Profiles through the simulator: instances boot in 60 s, drained ones empty in 90 s.
const tuned: PolicyConfig = { min: 1, max: 60, callsPerInstance: 100, headroom: 0.05, scaleInStabilisationSec: 120, scaleInTolerance: 0.1 }
const sim = (load: (t: number) => number, c = tuned, more = {}) =>
  simulate(c, { durationSec: 7200, periodSec: 10, bootSec: 60, drainSec: 90, load, ...more })

test('over a step, a ramp and a slow rise and fall the fleet costs within 15% of the ideal integral', () => {
  const profiles: Record<string, (t: number) => number> = {
    step: (t) => t < 600 ? 200 : 2500,
    ramp: (t) => Math.min(3000, 100 + t * 3000 / 3600),
    'rise and fall': (t) => 100 + 2900 * Math.sin(Math.PI * t / 7200),
  }
  for (const [name, load] of Object.entries(profiles)) {
    const r = sim(load)
    assert.ok(r.ratio >= 1 && r.ratio <= 1.15, `${name}: ${r.instanceSeconds} instance-seconds is ${r.ratio.toFixed(3)} x the ideal ${r.idealInstanceSeconds}`)
    assert.equal(r.flaps, 0, `${name} flapped`)
    // Capacity lags the load only while instances boot: one boot for a step, little on slopes.
    // (the fleet starts at min: one boot at t = 0, one at the step)
    if (name === 'step') assert.ok(r.shortfallSeconds <= 2 * 60 + 10, `step: ${r.shortfallSeconds} s short`)
    else assert.ok(r.shortfallFraction < 0.005, `${name}: ${(r.shortfallFraction * 100).toFixed(2)}% of call-seconds beyond capacity`)
  }
})

test('a fast decay costs one stabilisation window per step down, within 25% of the ideal', () => {
  const r = sim((t) => 100 + 2900 * Math.exp(-t / 1800))
  assert.ok(r.ratio <= 1.25, `ratio ${r.ratio.toFixed(3)}`)
  assert.equal(r.flaps, 0)
  assert.ok(r.drained >= 25, `drained ${r.drained}`)
})

test('a spike scales out within one period and in only after the window', () => {
  const r = sim((t) => t >= 3000 && t < 3120 ? 3000 : 300)
  const out = r.steps.find((s) => s.t >= 3000 && s.decision.action === 'scale_out')!
  assert.equal(out.t, 3000)
  assert.equal(out.decision.desired, 32)
  const back = r.steps.find((s) => s.t > 3000 && s.decision.action === 'scale_in')!
  // The spike's last observation (3110 s) must leave the 120 s window first.
  assert.equal(back.t, 3230)
  assert.equal(r.flaps, 0)
})

test('a noisy load (+-15% each period) does not flap the fleet: at most one reversal in two hours, over 20 seeds', () => {
  // The product's defaults: 10 % headroom, 5 % tolerance, a 180 s window.
  const defaults: PolicyConfig = { min: 1, max: 60, callsPerInstance: 100, headroom: 0.1, scaleInTolerance: 0.05, scaleInStabilisationSec: 180 }
  let total = 0
  for (let seed = 1; seed <= 20; seed++) {
    const rnd = prng(seed)
    const r = sim(() => 1500 * (0.85 + 0.3 * rnd()), defaults)
    assert.ok(r.flaps <= 1, `seed ${seed}: ${r.flaps} reversals`)
    total += r.flaps
    // The initial scale-out, then a few adjustments at most.
    const moves = r.steps.filter((s) => s.decision.action !== 'hold').length
    assert.ok(moves <= 6, `seed ${seed}: ${moves} scaling decisions`)
  }
  assert.ok(total <= 2, `${total} reversals over 20 runs`)
})

test('inbound calls beyond capacity are seen only up to capacity: a full fleet doubles until it catches up', () => {
  const r = sim((t) => t < 300 ? 100 : 2000, tuned, { saturate: true })
  const caught = r.steps.find((s) => s.t > 300 && s.ready * 100 >= 2000)
  assert.ok(caught, 'never caught up')
  // 2 -> 4 -> 8 -> 16 -> 32 ready: four boots of 60 s (and a period each to notice).
  assert.ok(caught.t <= 300 + 5 * 70, `caught up at ${caught.t} s`)
  assert.equal(r.steps.find((s) => s.t === 300)!.decision.code, 'saturated')
  assert.equal(r.flaps, 0)
  // Without the rule, one instance per boot: far slower.
  const slow = sim((t) => t < 300 ? 100 : 2000, { ...tuned, saturationGrowth: 0 }, { saturate: true })
  assert.ok(slow.steps.find((s) => s.t > 300 && s.ready * 100 >= 2000)!.t > caught.t + 300)
})

test('campaign calls are forecast: when they only end, instances are drained as they empty, not a window later', () => {
  // 3,000 campaign calls ending at 50/s; no contacts left, so the demand is what is up, all ending.
  let state = initialPolicyState()
  let fleetSize = 30
  const drainedAt: number[] = []
  for (let s = 0; s <= 60; s += 2) {
    const live = Math.max(0, 3000 - 50 * s)
    const r = decide(config, state, fleet({ at: s * 1000, liveCalls: live, campaignLiveCalls: live, campaignDemand: live, campaignEnding: live, ready: fleetSize }))
    state = r.state
    // Never below what the calls up need, and down to min when there are none.
    assert.ok(fleetSize - r.decision.drain >= Math.max(config.min, Math.ceil(live / 100)), `t=${s}: drained below the calls up`)
    if (r.decision.drain) drainedAt.push(s)
    fleetSize -= r.decision.drain
  }
  // With the 180 s window applied to them, nothing would drain in this minute; here every pass
  // drains what the calls up no longer need (no headroom, no tolerance: they only end).
  assert.equal(drainedAt[0], 2)
  assert.ok(drainedAt.length >= 28, `drains follow the calls down: at ${drainedAt.join(', ')} s`)
  assert.equal(fleetSize, config.min)
})

test('inbound calls keep the stabilisation window even with a campaign beside them', () => {
  // 1,000 inbound calls drop to 0 while a campaign holds 1,000: the inbound part waits the window.
  const obs = [
    fleet({ at: 0, liveCalls: 2000, campaignLiveCalls: 1000, campaignDemand: 1000, ready: 22 }),
    fleet({ at: 10_000, liveCalls: 1000, campaignLiveCalls: 1000, campaignDemand: 1000, ready: 22 }),
    fleet({ at: 100_000, liveCalls: 1000, campaignLiveCalls: 1000, campaignDemand: 1000, ready: 22 }),
    fleet({ at: 191_000, liveCalls: 1000, campaignLiveCalls: 1000, campaignDemand: 1000, ready: 22 }),
  ]
  const { decisions } = run(config, obs)
  assert.deepEqual(decisions.map((d) => d.code), ['steady', 'stabilising', 'stabilising', 'load_down'])
  // 1,000 campaign calls still dialling (no headroom of their own) and the 5% tolerance: 11 instances.
  assert.equal(decisions[3]!.desired, 11)
})

test('calls of campaigns with nothing left to dial get no headroom; a fleet full of campaign calls does not double', () => {
  const ending = decide(config, initialPolicyState(), fleet({ at: 0, liveCalls: 1000, campaignLiveCalls: 1000, campaignDemand: 1000, campaignEnding: 1000, ready: 10 })).decision
  assert.equal(ending.recommended, 10)
  assert.equal(ending.action, 'hold')
  assert.match(ending.reason, /load 1000 calls \(1000 campaign, 1000 of them ending\) needs 10 instances/)
  // Still dialling: a full fleet only slows the dialer: no doubling, and no headroom unless asked
  // (the demand already looks one launch lead ahead).
  const dialling = decide(config, initialPolicyState(), fleet({ at: 0, liveCalls: 1000, campaignLiveCalls: 1000, campaignDemand: 1000, ready: 10 })).decision
  assert.equal(dialling.code, 'steady')
  assert.equal(dialling.desired, 10)
  const spare = decide({ ...config, campaignHeadroom: 0.1 }, initialPolicyState(), fleet({ at: 0, liveCalls: 1000, campaignLiveCalls: 1000, campaignDemand: 1000, ready: 10 })).decision
  assert.equal(spare.code, 'load_up')
  assert.equal(spare.desired, 11)
  assert.match(spare.reason, /load 1000 calls \(1000 campaign\) \+10% on campaign calls needs 11 instances/)
  // The same fleet full of inbound calls: some may have been refused, so it grows.
  const inboundOnly = decide(config, initialPolicyState(), fleet({ at: 0, liveCalls: 1000, ready: 10 })).decision
  assert.equal(inboundOnly.code, 'saturated')
  assert.equal(inboundOnly.desired, 20)
  // Mixed: headroom on the 500 inbound calls, not on the 500 ending ones: 550 + 500 -> 11.
  const mixed = decide(config, initialPolicyState(), fleet({ at: 0, liveCalls: 1000, campaignLiveCalls: 500, campaignDemand: 500, campaignEnding: 500, ready: 12 })).decision
  assert.equal(mixed.recommended, 11)
  assert.match(mixed.reason, /load 1000 calls \(500 campaign, 500 of them ending\) \+10% headroom on inbound needs 11 instances/)
})

test('stranded channels count as busy while a campaign dials, and only then', () => {
  // 1,880 campaign calls up on 20 instances of 100, 120 of their channels freed by unanswered calls
  // on instances filled a while ago, 150 calls forecast within the lead: 2,030 + 120 -> 22.
  const o = fleet({ at: 0, liveCalls: 1880, campaignLiveCalls: 1880, campaignDemand: 2030, strandedChannels: 120, ready: 20 })
  const d = decide(config, initialPolicyState(), o).decision
  assert.equal(d.desired, 22)
  assert.match(d.reason, /load 2030 calls \(2030 campaign\) \+120 stranded channels needs 22 instances/)
  // Without them, the gaps look like room for the forecast: 21.
  assert.equal(decide(config, initialPolicyState(), { ...o, strandedChannels: 0 }).decision.desired, 21)
  // Nothing left to dial: no call will be placed, the stranded channels are just free.
  const ending = decide(config, initialPolicyState(), { ...o, campaignDemand: 1880, campaignEnding: 1880 }).decision
  assert.equal(ending.recommended, 19)
  // Inbound only: inbound calls are routed by the instances, any free channel serves.
  assert.equal(decide(config, initialPolicyState(), fleet({ at: 0, liveCalls: 1000, strandedChannels: 120, ready: 11 })).decision.recommended, 11)
  assert.throws(() => decide(config, initialPolicyState(), { ...o, strandedChannels: -1 }), /strandedChannels/)
})
