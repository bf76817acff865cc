import { test } from 'node:test'
import assert from 'node:assert/strict'
import { windowState, checkWindow, isValidTimeZone, parseClock } from '../src/calling-window.ts'

const nine2nine = { start: '09:00', end: '21:00' }

test('a window is open inside local calling hours and closed outside them', () => {
  // 14:00 UTC is 10:00 in New York (EDT, July).
  const open = windowState(new Date('2025-07-01T14:00:00Z'), 'America/New_York', nine2nine)
  assert.equal(open.open, true)
  assert.equal(open.closesAt?.toISOString(), '2025-07-02T01:00:00.000Z')
  // 12:00 UTC is 08:00 in New York: opens at 13:00 UTC.
  const early = windowState(new Date('2025-07-01T12:00:00Z'), 'America/New_York', nine2nine)
  assert.equal(early.open, false)
  assert.equal(early.nextOpenAt?.toISOString(), '2025-07-01T13:00:00.000Z')
})

test('the start is inclusive and the end exclusive', () => {
  assert.equal(windowState(new Date('2025-01-15T09:00:00Z'), 'UTC', nine2nine).open, true)
  assert.equal(windowState(new Date('2025-01-15T20:59:59Z'), 'UTC', nine2nine).open, true)
  const end = windowState(new Date('2025-01-15T21:00:00Z'), 'UTC', nine2nine)
  assert.equal(end.open, false)
  assert.equal(end.nextOpenAt?.toISOString(), '2025-01-16T09:00:00.000Z')
})

test('the same instant is open in one zone and closed in another', () => {
  const now = new Date('2025-03-03T18:00:00Z') // 10:00 Los Angeles, 03:00 Tokyo (next day)
  assert.equal(windowState(now, 'America/Los_Angeles', nine2nine).open, true)
  const tokyo = windowState(now, 'Asia/Tokyo', nine2nine)
  assert.equal(tokyo.open, false)
  assert.equal(tokyo.nextOpenAt?.toISOString(), '2025-03-04T00:00:00.000Z') // 09:00 JST
})

test('daylight saving time moves the window in UTC (US spring forward and fall back)', () => {
  // 2025-03-09: New York moves from UTC-5 to UTC-4 at 02:00 local.
  const before = windowState(new Date('2025-03-08T13:00:00Z'), 'America/New_York', nine2nine)
  assert.equal(before.open, false) // 08:00 EST
  assert.equal(before.nextOpenAt?.toISOString(), '2025-03-08T14:00:00.000Z')
  const after = windowState(new Date('2025-03-09T13:00:00Z'), 'America/New_York', nine2nine)
  assert.equal(after.open, true) // 09:00 EDT
  assert.equal(after.closesAt?.toISOString(), '2025-03-10T01:00:00.000Z')
  // 2025-11-02: back to UTC-5.
  const fall = windowState(new Date('2025-11-02T13:30:00Z'), 'America/New_York', nine2nine)
  assert.equal(fall.open, false) // 08:30 EST
  assert.equal(fall.nextOpenAt?.toISOString(), '2025-11-02T14:00:00.000Z')
})

test('a window start inside a spring-forward gap moves forward by the gap', () => {
  // Europe/Berlin skips 02:00-03:00 on 2025-03-30; a 02:30 start becomes 03:30 CEST (01:30 UTC).
  const w = { start: '02:30', end: '05:00' }
  const s = windowState(new Date('2025-03-30T00:30:00Z'), 'Europe/Berlin', w) // 01:30 CET
  assert.equal(s.open, false)
  assert.equal(s.nextOpenAt?.toISOString(), '2025-03-30T01:30:00.000Z')
  assert.equal(windowState(new Date('2025-03-30T01:45:00Z'), 'Europe/Berlin', w).open, true)
})

test('a repeated hour (fall back) opens at its first occurrence', () => {
  // Europe/Berlin repeats 02:00-03:00 on 2025-10-26: 02:30 first happens at 00:30 UTC.
  const w = { start: '02:30', end: '04:00' }
  const s = windowState(new Date('2025-10-26T00:00:00Z'), 'Europe/Berlin', w)
  assert.equal(s.nextOpenAt?.toISOString(), '2025-10-26T00:30:00.000Z')
})

test('a window across midnight is open late and early, closed in between', () => {
  const w = { start: '22:00', end: '02:00' }
  assert.equal(windowState(new Date('2025-05-05T23:00:00Z'), 'UTC', w).open, true)
  const early = windowState(new Date('2025-05-06T01:00:00Z'), 'UTC', w)
  assert.equal(early.open, true)
  assert.equal(early.closesAt?.toISOString(), '2025-05-06T02:00:00.000Z')
  const noon = windowState(new Date('2025-05-06T12:00:00Z'), 'UTC', w)
  assert.equal(noon.open, false)
  assert.equal(noon.nextOpenAt?.toISOString(), '2025-05-06T22:00:00.000Z')
})

test('days restrict the window to local weekdays', () => {
  const weekdays = { ...nine2nine, days: [1, 2, 3, 4, 5] }
  // Saturday 2025-05-10 10:00 UTC: closed; next open Monday 09:00.
  const sat = windowState(new Date('2025-05-10T10:00:00Z'), 'UTC', weekdays)
  assert.equal(sat.open, false)
  assert.equal(sat.nextOpenAt?.toISOString(), '2025-05-12T09:00:00.000Z')
  // Friday 23:30 UTC is already Saturday 08:30 in Tokyo: the weekday is the local one.
  const tokyo = windowState(new Date('2025-05-09T23:30:00Z'), 'Asia/Tokyo', weekdays)
  assert.equal(tokyo.open, false)
  assert.equal(tokyo.nextOpenAt?.toISOString(), '2025-05-12T00:00:00.000Z')
})

test('bad windows and zones are refused', () => {
  assert.throws(() => parseClock('9:00'), /HH:MM/)
  assert.throws(() => parseClock('25:00'), /HH:MM/)
  assert.equal(parseClock('24:00'), 1440)
  assert.throws(() => checkWindow({ start: '10:00', end: '10:00' }), /empty/)
  assert.throws(() => checkWindow({ start: '09:00', end: '17:00', days: [7] }), /days/)
  assert.throws(() => checkWindow({ start: '09:00', end: '17:00', days: [] }), /days/)
  assert.doesNotThrow(() => checkWindow({ start: '09:00', end: '17:00', days: [0, 6] }))
  assert.equal(isValidTimeZone('Europe/Paris'), true)
  assert.equal(isValidTimeZone('Mars/Olympus'), false)
  assert.equal(isValidTimeZone(''), false)
  assert.equal(isValidTimeZone(42), false)
})
