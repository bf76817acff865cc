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

// Campaigns without a binding cap, for the lead-time tests.
const big = (c: Partial<CampaignLoad> & { id: string }): CampaignLoad => campaign({ maxConcurrent: 100_000, ...c })

test('with a lead time, demand is the calls up now plus what the campaign dials before a launch is ready', () => {
  const lead = { defaultHoldSec: 45, leadSec: 4 }
  const d = campaignDemand([
    big({ id: 'start', rateCps: 50, holdSec: 65, liveCalls: 0 }), // 0 + 50 x 4 = 200, not 3,250
    big({ id: 'ramp', rateCps: 50, holdSec: 65, liveCalls: 1000 }), // 1000 + 200
    big({ id: 'steady', rateCps: 50, holdSec: 65, liveCalls: 3200 }), // 3400 ahead, steady state 3250
    big({ id: 'over', rateCps: 50, holdSec: 65, liveCalls: 3300 }), // more up than the steady state: what is up
    big({ id: 'ending', rateCps: 50, holdSec: 65, liveCalls: 900, inFlight: 900, due: 0 }), // no contacts left: only what is up
    big({ id: 'last', rateCps: 50, holdSec: 65, liveCalls: 900, inFlight: 930, due: 20 }), // 30 queued + 20 due left
    big({ id: 'capped', rateCps: 50, holdSec: 65, liveCalls: 450, maxConcurrent: 500 }),
  ], lead)
  assert.deepEqual(d.byCampaign, [
    { id: 'start', demand: 200, limitedBy: 'lead' },
    { id: 'ramp', demand: 1200, limitedBy: 'lead' },
    { id: 'steady', demand: 3250, limitedBy: 'rate' },
    { id: 'over', demand: 3300, limitedBy: 'rate' },
    { id: 'ending', demand: 900, limitedBy: 'contacts', ending: true },
    { id: 'last', demand: 950, limitedBy: 'contacts' },
    { id: 'capped', demand: 500, limitedBy: 'cap' },
  ])
  // Only the campaign with nothing queued or due is ending: its calls only end.
  assert.equal(d.ending, 900)
  // Contacts in flight beyond its live calls are queued, so still to dial.
  assert.equal(campaignDemand([big({ id: 'q', liveCalls: 10, inFlight: 12, due: 0 })], lead).ending, 0)
  assert.equal(campaignDemand([big({ id: 'q', liveCalls: 12, inFlight: 12, due: 0 })], lead).ending, 12)
  // A lead of a whole hold time or more is the steady state again.
  assert.equal(campaignDemand([big({ id: 'x', rateCps: 50, holdSec: 65, liveCalls: 0 })], { defaultHoldSec: 45, leadSec: 120 }).total, 3250)
  assert.throws(() => campaignDemand([], { defaultHoldSec: 30, leadSec: -1 }), /leadSec/)
  assert.throws(() => campaignDemand([big({ id: 'x', liveCalls: -3 })], lead), /campaign x: liveCalls/)
})

test('forecast over a whole campaign: ahead of its calls by the lead, down with them as they end', () => {
  // A campaign dialling 50/s for 70 s, each call held 65 s; the lead is 5 s.
  const rate = 50
  const hold = 65
  const dialFor = 70
  const contacts = rate * dialFor
  const liveAt = (t: number) => rate * (Math.min(t, dialFor) - Math.max(0, Math.min(t - hold, dialFor)))
  for (let t = 0; t <= dialFor + hold; t += 1) {
    const dialled = rate * Math.min(t, dialFor)
    const left = contacts - dialled
    const d = campaignDemand([big({ id: 'c', rateCps: rate, holdSec: hold, liveCalls: liveAt(t), inFlight: 0, due: left })], { defaultHoldSec: 45, leadSec: 5 }).total
    // Never below what is up, never above what is up 5 s later plus the calls that end meanwhile.
    assert.ok(d >= liveAt(t), `t=${t}: ${d} < live ${liveAt(t)}`)
    assert.ok(d <= Math.max(liveAt(t), liveAt(t + 5) + rate * 5), `t=${t}: ${d} too far ahead`)
    if (left === 0) assert.equal(d, liveAt(t), `t=${t}: no contacts left, only the calls up`)
  }
})
