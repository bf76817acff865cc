import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { importContacts } from '../src/index.ts'
import { csv, harness } from './helpers.ts'

test('contacts load with E.164 numbers, zones and vars while bad rows, duplicates and DNC entries are counted', async (t) => {
  const h = await harness(t)
  const dnc = await h.dialer.importDnc(csv('phone\n+1 (310) 555-0100\n+13105550100\nnot a number\n'), { source: 'regulator' })
  assert.deepEqual(dnc, { added: 1, duplicates: 1, bad: [{ line: 4, reason: 'not a phone number: "not a number"' }] })
  const c = await h.dialer.create({ name: 'x', flowId: 'survey', callerId: '100', rateCps: 1, maxConcurrent: 1 })
  const file = [
    'Phone,First Name,tz,district', // line 1
    '(212) 555-0101,Ann,,North', // 2: New York by area code
    '+1 310 555 0102,Bob,America/Denver,South', // 3: zone given
    '212-555-0101,Ann again,,North', // 4: duplicate within the file
    'garbage,Carl,,East', // 5: bad number
    '+1 310 555 0100,Dnc,,West', // 6: on the DNC list
    '+33 6 12 34 56 78,Zoé,,"Paris, 1er"', // 7: quoted comma, France
    '2125550103,Dan,Mars/Base,North', // 8: bad zone
    '2125550104,Eve,,North,extra', // 9: too many fields
    '', // blank line: skipped
    '"2125550105,Fay', // 11: unterminated quote (the rest of the file is one bad record)
  ].join('\n')
  const progress: number[] = []
  const r = await h.dialer.importContacts(c.id, csv(file), { defaultCountry: 'US', batchSize: 2, onProgress: (p) => progress.push(p.imported) })
  assert.equal(r.imported, 3)
  assert.equal(r.duplicates, 1)
  assert.equal(r.dnc, 1)
  assert.deepEqual(r.bad.map((b) => b.line).slice(0, 3), [5, 8, 9])
  assert.match(r.bad[0]!.reason, /not a phone number/)
  assert.match(r.bad[1]!.reason, /unknown time zone "Mars\/Base"/)
  assert.match(r.bad[2]!.reason, /5 fields, the header has 4/)
  assert.ok(r.bad.length >= 3)
  assert.ok(progress.length >= 2, 'progress is reported per batch')

  const rows = await h.pool.query('SELECT phone_e164, time_zone, vars, state, attempts FROM contacts WHERE campaign_id = $1 ORDER BY id', [c.id])
  assert.deepEqual(rows.rows.map((x) => [x.phone_e164, x.time_zone, x.vars]), [
    ['+12125550101', 'America/New_York', { First_Name: 'Ann', district: 'North' }],
    ['+13105550102', 'America/Denver', { First_Name: 'Bob', district: 'South' }],
    ['+33612345678', 'Europe/Paris', { First_Name: 'Zoé', district: 'Paris, 1er' }],
  ])
  assert.ok(rows.rows.every((x) => x.state === 'pending' && x.attempts === 0))

  // Importing the same file again adds nothing: everything is a duplicate now.
  const again = await h.dialer.importContacts(c.id, csv(file), { defaultCountry: 'US' })
  assert.equal(again.imported, 0)
  assert.equal(again.duplicates, 4)
})

test('a file without a phone column or without anything is refused', async (t) => {
  const h = await harness(t)
  const c = await h.dialer.create({ name: 'x', flowId: 'survey', callerId: '100', rateCps: 1, maxConcurrent: 1 })
  await assert.rejects(h.dialer.importContacts(c.id, csv('name,city\nAnn,Paris\n')), { code: 'FED_DIALER_BAD_CSV' })
  await assert.rejects(h.dialer.importContacts(c.id, csv('')), { code: 'FED_DIALER_BAD_CSV' })
  const wide = ['phone', ...Array.from({ length: 33 }, (_, i) => `v${i}`)].join(',')
  await assert.rejects(h.dialer.importContacts(c.id, csv(`${wide}\n`)), /at most 32/)
  await assert.rejects(h.dialer.importContacts('missing', csv('phone\n+12125550100\n')), { code: 'FED_DIALER_NOT_FOUND' })
  await h.dialer.stop(c.id)
  await assert.rejects(h.dialer.importContacts(c.id, csv('phone\n+12125550100\n')), { code: 'FED_DIALER_BAD_STATE' })
})

test('a do-not-call list without a header is one number per line', async (t) => {
  const h = await harness(t)
  const r = await h.dialer.importDnc(csv('+12125550100\n2125550101\n12\n'), { defaultCountry: 'US' })
  assert.equal(r.added, 2)
  assert.deepEqual(r.bad.map((b) => b.line), [3])
  await assert.rejects(h.dialer.importDnc(csv('name,city\nAnn,Paris\n')), { code: 'FED_DIALER_BAD_CSV' })
})

test('importing 100k rows streams in bounded memory', async (t) => {
  const h = await harness(t)
  const c = await h.dialer.create({ name: 'big', flowId: 'survey', callerId: '100', rateCps: 1, maxConcurrent: 1 })
  const total = 100_000
  const AREAS = [212, 310, 312, 415, 305, 206, 303, 602, 404, 617]
  let i = 0
  // Generated lazily: the file never exists in memory as a whole.
  const input = new Readable({
    read () {
      if (i === 0) this.push('phone,name,segment\n')
      let chunk = ''
      for (let k = 0; k < 2000 && i < total; k++, i++) {
        // Ten area codes across four zones, every number distinct; every 1000th row is bad.
        chunk += i % 1000 === 999 ? `bad${i},x,y\n` : `+1${AREAS[i % 10]}${2000000 + Math.floor(i / 10)},Name ${i},s${i % 7}\n`
      }
      this.push(chunk)
      if (i >= total) this.push(null)
    },
  })
  global.gc?.()
  const rss0 = process.memoryUsage().rss
  let peak = rss0
  const t0 = performance.now()
  const r = await importContacts({ pool: h.pool, campaignId: c.id, input, onProgress: () => { peak = Math.max(peak, process.memoryUsage().rss) } })
  const ms = performance.now() - t0
  t.diagnostic(`100k rows in ${Math.round(ms)} ms, rss growth ${Math.round((peak - rss0) / 1e6)} MB`)
  assert.equal(r.bad.length, 100)
  assert.equal(r.imported, total - 100)
  assert.equal(r.duplicates, 0)
  const n = await h.pool.query('SELECT count(*)::int AS n, count(DISTINCT time_zone)::int AS zones FROM contacts WHERE campaign_id = $1', [c.id])
  assert.equal(n.rows[0].n, r.imported)
  assert.ok(n.rows[0].zones >= 3, 'zones come from the area codes')
  assert.ok(peak - rss0 < 150e6, `rss grew by ${Math.round((peak - rss0) / 1e6)} MB`)
  assert.ok(ms < 60_000)
})
