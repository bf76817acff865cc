import { test } from 'node:test'
import assert from 'node:assert/strict'
import { campaignDemand, type CampaignLoad } from '../src/index.ts'

const campaign = (c: Partial<CampaignLoad> & { id: string }): CampaignLoad => ({ rateCps: 10, maxConcurrent: 1000, inFlight: 0, due: 100_000, holdSec: 30, ...c })

test('campaign demand is rate x hold time, bounded by the cap and by the contacts left', () => {
  const d = campaignDemand([
    campaign({ id: 'rate' }), // 10/s x 30 s = 300
    campaign({ id: 'cap', rateCps: 50, maxConcurrent: 200 }), // 1500 by rate, capped at 200
    campaign({ id: 'few', inFlight: 20, due: 30 }), // 50 contacts left
    campaign({ id: 'new', holdSec: null }), // no history: default hold 45 s -> 450
  ], { defaultHoldSec: 45 })
  assert.deepEqual(d.byCampaign, [
    { id: 'rate', demand: 300, limitedBy: 'rate' },
    { id: 'cap', demand: 200, limitedBy: 'cap' },
    { id: 'few', demand: 50, limitedBy: 'contacts' },
    { id: 'new', demand: 450, limitedBy: 'rate' },
  ])
  assert.equal(d.total, 1000)
})

test('the global caps bound the total: a rate cap shares the rate, a concurrency cap the calls', () => {
  const both = [campaign({ id: 'a', rateCps: 30 }), campaign({ id: 'b', rateCps: 10 })]
  // 40/s capped at 20/s: each campaign at half its rate.
  const byRate = campaignDemand(both, { defaultHoldSec: 30, globalMaxCps: 20 })
  assert.deepEqual(byRate.byCampaign.map((c) => c.demand), [450, 150])
  assert.equal(campaignDemand(both, { defaultHoldSec: 30, globalMaxConcurrent: 500 }).total, 500)
  assert.equal(campaignDemand([], { defaultHoldSec: 30 }).total, 0)
})

test('bad campaign numbers are refused', () => {
  assert.throws(() => campaignDemand([campaign({ id: 'x', rateCps: -1 })], { defaultHoldSec: 30 }), { code: 'FED_SCALER_INVALID_INPUT', message: /campaign x: rateCps/ })
  assert.throws(() => campaignDemand([campaign({ id: 'x', due: Number.NaN })], { defaultHoldSec: 30 }), /due/)
  assert.throws(() => campaignDemand([], { defaultHoldSec: 0 }), /defaultHoldSec/)
})
