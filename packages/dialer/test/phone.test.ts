import { test } from 'node:test'
import assert from 'node:assert/strict'
import { normalizePhone } from '../src/phone.ts'
import { timeZoneForNumber, timeZonesForNumber } from '../src/time-zones.ts'

test('numbers are normalised to E.164 from national and international forms', () => {
  assert.deepEqual(normalizePhone('(212) 555-1234', 'US'), { e164: '+12125551234', country: 'US' })
  assert.deepEqual(normalizePhone('+1 212 555 1234'), { e164: '+12125551234', country: 'US' })
  assert.deepEqual(normalizePhone('06 12 34 56 78', 'FR'), { e164: '+33612345678', country: 'FR' })
  assert.deepEqual(normalizePhone('0033 6 12 34 56 78'), { e164: '+33612345678', country: 'FR' })
})

test('junk, short and countryless national numbers are refused with a reason', () => {
  assert.match((normalizePhone('hello', 'US') as { error: string }).error, /not a phone number/)
  assert.match((normalizePhone('123', 'US') as { error: string }).error, /invalid|not a phone/)
  assert.match((normalizePhone('', 'US') as { error: string }).error, /empty/)
  assert.ok('error' in normalizePhone('2125551234'))
  assert.ok('error' in normalizePhone('9'.repeat(80)))
})

test('a number gets the time zone of its area code', () => {
  assert.equal(timeZoneForNumber('+12125551234', 'US'), 'America/New_York')
  assert.equal(timeZoneForNumber('+13105551234', 'US'), 'America/Los_Angeles')
  assert.equal(timeZoneForNumber('+13125551234', 'US'), 'America/Chicago')
  assert.equal(timeZoneForNumber('+14165551234', 'CA'), 'America/Toronto')
  assert.equal(timeZoneForNumber('+33612345678', 'FR'), 'Europe/Paris')
})

test('a number whose prefix spans zones gets its country main zone', () => {
  assert.ok(timeZonesForNumber('+18005551234').length > 1)
  assert.equal(timeZoneForNumber('+18005551234', 'US'), 'America/Chicago')
  assert.deepEqual(timeZonesForNumber('+999'), [])
  assert.equal(timeZoneForNumber('+999123', undefined, 'Europe/Lisbon'), 'Europe/Lisbon')
})
