import { test } from 'node:test'
import assert from 'node:assert/strict'
import { computeCost } from '../src/index.ts'

const t = (iso: string) => Date.parse(iso)
const H = 3_600_000

test('instance time is split at UTC midnight and priced by instance type', () => {
  const r = computeCost({
    from: t('2026-03-01T00:00:00Z'),
    to: t('2026-03-03T00:00:00Z'),
    instances: [
      // 22:00 -> 02:00: two hours on each day.
      { id: 'a', instanceType: 'c7i.large', start: t('2026-03-01T22:00:00Z'), end: t('2026-03-02T02:00:00Z') },
      // Still running: counted to the end of the period (22 h on day 2).
      { id: 'b', instanceType: 'c7i.xlarge', start: t('2026-03-02T02:00:00Z'), end: null },
    ],
    pricePerHour: { 'c7i.large': 0.1, 'c7i.xlarge': 0.2 },
  })
  assert.deepEqual(r.byDay, [
    { day: '2026-03-01', instanceSeconds: 7200, cost: 0.2 },
    { day: '2026-03-02', instanceSeconds: 7200 + 22 * 3600, cost: 4.6 },
  ])
  assert.equal(r.instanceSeconds, 4 * 3600 + 22 * 3600)
  assert.equal(r.cost, 4.8)
  assert.deepEqual(r.unpriced, [])
})

test('the fleet\'s time is shared by call-seconds between campaigns, and compared with a fixed fleet for the peak', () => {
  const from = t('2026-03-01T00:00:00Z')
  const r = computeCost({
    from,
    to: from + 10 * H,
    instances: [
      { id: 'base', instanceType: 'm', start: from, end: from + 10 * H },
      ...Array.from({ length: 9 }, (_, k) => ({ id: `peak${k}`, instanceType: 'm', start: from + 4 * H, end: from + 6 * H })),
    ],
    callSeconds: [
      { campaignId: 'c1', day: '2026-03-01', seconds: 3000 },
      { campaignId: null, day: '2026-03-01', seconds: 1000 },
    ],
    pricePerHour: { default: 1 },
  })
  // 10 h + 9 x 2 h = 28 instance-hours; a fixed fleet of 10 for 10 h = 100.
  assert.equal(r.cost, 28)
  assert.deepEqual(r.fixed, { instances: 10, instanceSeconds: 360_000, cost: 100 })
  assert.deepEqual(r.savings, { cost: 72, percent: 72 })
  assert.deepEqual(r.byCampaign, [
    { campaignId: 'c1', callSeconds: 3000, instanceSeconds: 0.75 * 28 * 3600, cost: 21 },
    { campaignId: null, callSeconds: 1000, instanceSeconds: 0.25 * 28 * 3600, cost: 7 },
  ])
  assert.equal(r.idle.cost, 0)
  // The scaling history's peak, when given, sizes the fixed fleet.
  assert.equal(computeCost({ from, to: from + H, instances: [], pricePerHour: { default: 1 }, peakInstances: 4 }).fixed.cost, 4)
})

test('types without a price are counted at zero and named; a period that ends before it starts is refused', () => {
  const from = t('2026-03-01T00:00:00Z')
  const r = computeCost({ from, to: from + H, instances: [{ id: 'x', instanceType: 'weird', start: from, end: null }], pricePerHour: { m: 1 } })
  assert.equal(r.cost, 0)
  assert.deepEqual(r.unpriced, ['weird'])
  assert.equal(r.idle.instanceSeconds, 3600)
  assert.throws(() => computeCost({ from, to: from, instances: [], pricePerHour: {} }), { code: 'FED_SCALER_INVALID_INPUT' })
})
