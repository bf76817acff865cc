import type { Readable } from 'node:stream'
import { parse } from 'csv-parse'
import type pg from 'pg'
import { isValidTimeZone } from './calling-window.ts'
import { DialerError } from './errors.ts'
import { normalizePhone } from './phone.ts'
import { timeZoneForNumber } from './time-zones.ts'

export interface BadRow { line: number, reason: string }

export interface ImportProgress { rows: number, imported: number, duplicates: number, dnc: number, bad: number }

export interface ImportResult {
  imported: number
  /** Numbers already in the campaign or repeated in the file. */
  duplicates: number
  /** Numbers on the do-not-call list. */
  dnc: number
  /** Rows that could not be read, with their line number in the file (the header is line 1). */
  bad: BadRow[]
}

export interface ImportContactsOptions {
  pool: pg.Pool
  campaignId: string
  input: Readable
  /** ISO 3166 alpha-2 country for numbers written without their country code. */
  defaultCountry?: string
  /** Zone for numbers whose prefix maps to none (default UTC). */
  defaultTimeZone?: string
  /** When the contacts become due (default: the database's now). */
  now?: Date
  batchSize?: number
  /** Bad rows beyond this are counted but not listed (default 10,000). */
  maxBadRows?: number
  onProgress?: (p: ImportProgress) => void
}

const PHONE_COLUMNS = new Set(['phone', 'phone_number', 'phonenumber', 'number', 'msisdn', 'mobile', 'tel', 'telephone', 'e164'])
const TZ_COLUMNS = new Set(['timezone', 'time_zone', 'tz'])
// The protocol's Vars: 32 channel variables, names [A-Za-z0-9_]{1,64}, values up to 1024 chars.
const MAX_VARS = 32
const MAX_VALUE = 1024

/**
 * Streams a CSV of contacts into a campaign. The header names the columns: a phone column
 * (phone, number, msisdn, ...), an optional `timezone`/`tz`, everything else becomes the
 * contact's vars. Rows go in batches (one multi-row INSERT ... ON CONFLICT DO NOTHING each),
 * so memory stays flat whatever the file size and the input is read only as fast as the
 * database takes it. Numbers are normalised to E.164; duplicates and do-not-call numbers are
 * dropped and counted; bad rows are reported by line while the good ones load.
 */
export async function importContacts (opts: ImportContactsOptions): Promise<ImportResult> {
  const { pool, campaignId } = opts
  const camp = await pool.query('SELECT status FROM campaigns WHERE id = $1', [campaignId])
  if (camp.rowCount === 0) throw new DialerError('FED_DIALER_NOT_FOUND', `campaign ${campaignId}`)
  if (['stopped', 'completed'].includes(camp.rows[0].status)) {
    throw new DialerError('FED_DIALER_BAD_STATE', `campaign ${campaignId} is ${camp.rows[0].status}`)
  }
  const batchSize = opts.batchSize ?? 1000
  const maxBad = opts.maxBadRows ?? 10_000
  const fallbackZone = opts.defaultTimeZone ?? 'UTC'
  const result: ImportResult = { imported: 0, duplicates: 0, dnc: 0, bad: [] }
  let badCount = 0
  let rows = 0
  const addBad = (line: number, reason: string) => {
    badCount++
    if (result.bad.length < maxBad) result.bad.push({ line, reason })
  }
  let header: { phone: number, tz: number, vars: Array<{ index: number, key: string }>, width: number } | undefined
  let batch: Array<{ phone: string, tz: string, vars: string }> = []
  let seen = new Set<string>()

  const flush = async () => {
    if (batch.length === 0) return
    const r = await pool.query(`
      WITH input AS (SELECT * FROM unnest($2::text[], $3::text[], $4::jsonb[]) AS t(phone, tz, vars)),
      blocked AS (SELECT i.phone FROM input i JOIN dnc d ON d.phone_e164 = i.phone),
      ins AS (
        INSERT INTO contacts (campaign_id, phone_e164, time_zone, vars, next_attempt_at)
        SELECT $1, phone, tz, vars, coalesce($5::timestamptz, now()) FROM input
        WHERE phone NOT IN (SELECT phone FROM blocked)
        ON CONFLICT (campaign_id, phone_e164) DO NOTHING RETURNING 1)
      SELECT (SELECT count(*)::int FROM blocked) AS dnc, (SELECT count(*)::int FROM ins) AS inserted`,
    [campaignId, batch.map((b) => b.phone), batch.map((b) => b.tz), batch.map((b) => b.vars), opts.now ?? null])
    const { dnc, inserted } = r.rows[0]
    result.dnc += dnc
    result.imported += inserted
    result.duplicates += batch.length - dnc - inserted
    batch = []
    seen = new Set()
    opts.onProgress?.({ rows, imported: result.imported, duplicates: result.duplicates, dnc: result.dnc, bad: badCount })
  }

  for await (const { record, line } of csvRecords(opts.input, addBad)) {
    if (!header) {
      header = contactHeader(record)
      continue
    }
    rows++
    if (record.length > header.width) {
      addBad(line, `${record.length} fields, the header has ${header.width}`)
      continue
    }
    const p = normalizePhone(record[header.phone] ?? '', opts.defaultCountry)
    if ('error' in p) { addBad(line, p.error); continue }
    let tz: string
    const given = header.tz >= 0 ? (record[header.tz] ?? '').trim() : ''
    if (given) {
      if (!isValidTimeZone(given)) { addBad(line, `unknown time zone ${JSON.stringify(given.slice(0, 64))}`); continue }
      tz = given
    } else {
      tz = timeZoneForNumber(p.e164, p.country, fallbackZone)
    }
    const vars: Record<string, string> = {}
    let tooLong = ''
    for (const v of header.vars) {
      const value = record[v.index] ?? ''
      if (value.length > MAX_VALUE) tooLong = v.key
      vars[v.key] = value
    }
    if (tooLong) { addBad(line, `${tooLong} is longer than ${MAX_VALUE} characters`); continue }
    if (seen.has(p.e164)) { result.duplicates++; continue }
    seen.add(p.e164)
    batch.push({ phone: p.e164, tz, vars: JSON.stringify(vars) })
    if (batch.length >= batchSize) await flush()
  }
  if (!header) throw new DialerError('FED_DIALER_BAD_CSV', 'the file is empty (no header)')
  await flush()
  // The parser reads ahead, so records it could not read may be reported before earlier rows.
  result.bad.sort((a, b) => a.line - b.line)
  if (badCount > result.bad.length) result.bad.push({ line: 0, reason: `${badCount - result.bad.length} more bad rows not listed` })
  return result
}

export interface ImportDncOptions {
  pool: pg.Pool
  input: Readable
  defaultCountry?: string
  /** Where the entries came from (a file name, a regulator's list). */
  source?: string
  batchSize?: number
  maxBadRows?: number
  onProgress?: (p: { rows: number, added: number, duplicates: number, bad: number }) => void
}

export interface ImportDncResult { added: number, duplicates: number, bad: BadRow[] }

/**
 * Streams numbers into the do-not-call list: a CSV with a phone column, or one number per line
 * without a header. Contacts already imported are not removed; the dispatcher never skips a
 * contact later added to the list (import the list before the contacts).
 */
export async function importDnc (opts: ImportDncOptions): Promise<ImportDncResult> {
  const batchSize = opts.batchSize ?? 1000
  const maxBad = opts.maxBadRows ?? 10_000
  const result: ImportDncResult = { added: 0, duplicates: 0, bad: [] }
  let badCount = 0
  let rows = 0
  const addBad = (line: number, reason: string) => {
    badCount++
    if (result.bad.length < maxBad) result.bad.push({ line, reason })
  }
  let phoneIndex = -1
  let batch = new Set<string>()
  const flush = async () => {
    if (batch.size === 0) return
    const r = await opts.pool.query(`INSERT INTO dnc (phone_e164, source) SELECT p, $2 FROM unnest($1::text[]) AS p
      ON CONFLICT (phone_e164) DO NOTHING`, [[...batch], opts.source ?? null])
    result.added += r.rowCount ?? 0
    result.duplicates += batch.size - (r.rowCount ?? 0)
    batch = new Set()
    opts.onProgress?.({ rows, added: result.added, duplicates: result.duplicates, bad: badCount })
  }
  let first = true
  for await (const { record, line } of csvRecords(opts.input, addBad)) {
    if (first) {
      first = false
      phoneIndex = record.findIndex((h) => PHONE_COLUMNS.has(columnKey(h).toLowerCase()))
      if (phoneIndex >= 0) continue
      // No header: every line is a number.
      if (record.length !== 1) throw new DialerError('FED_DIALER_BAD_CSV', 'the header names no phone column (phone, number, msisdn, ...)')
      phoneIndex = 0
    }
    rows++
    const p = normalizePhone(record[phoneIndex] ?? '', opts.defaultCountry)
    if ('error' in p) { addBad(line, p.error); continue }
    if (batch.has(p.e164)) { result.duplicates++; continue }
    batch.add(p.e164)
    if (batch.size >= batchSize) await flush()
  }
  await flush()
  result.bad.sort((a, b) => a.line - b.line)
  if (badCount > result.bad.length) result.bad.push({ line: 0, reason: `${badCount - result.bad.length} more bad rows not listed` })
  return result
}

// Records of a CSV stream with their line numbers; unreadable records go to `bad`.
async function * csvRecords (input: Readable, bad: (line: number, reason: string) => void): AsyncGenerator<{ record: string[], line: number }> {
  const parser = parse({
    bom: true,
    info: true,
    trim: true,
    skip_empty_lines: true,
    relax_column_count: true,
    skip_records_with_error: true,
    max_record_size: 64 * 1024,
    on_skip: (err) => { bad((err as { lines?: number } | undefined)?.lines ?? 0, err?.message ?? 'unreadable record') },
  })
  input.on('error', (err) => parser.destroy(err))
  input.pipe(parser)
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[], info: { lines: number } }>) {
      // PostgreSQL text and jsonb cannot hold NUL: such a row is bad, not the whole batch.
      if (record.some((field) => field.includes('\u0000'))) {
        bad(info.lines, 'a field contains a NUL byte')
        continue
      }
      yield { record, line: info.lines }
    }
  } catch (err) {
    if (err instanceof DialerError) throw err
    throw new DialerError('FED_DIALER_BAD_CSV', (err as Error).message, { cause: err })
  } finally {
    input.unpipe(parser)
    parser.destroy()
  }
}

function columnKey (name: string): string {
  return name.trim().replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 64)
}

function contactHeader (record: string[]) {
  const keys = record.map(columnKey)
  const phone = keys.findIndex((k) => PHONE_COLUMNS.has(k.toLowerCase()))
  if (phone < 0) throw new DialerError('FED_DIALER_BAD_CSV', 'the header names no phone column (phone, number, msisdn, ...)')
  const tz = keys.findIndex((k) => TZ_COLUMNS.has(k.toLowerCase()))
  const vars: Array<{ index: number, key: string }> = []
  const used = new Set<string>()
  keys.forEach((k, index) => {
    if (index === phone || index === tz) return
    let key = k || `col${index + 1}`
    for (let n = 2; used.has(key); n++) key = `${k || `col${index + 1}`}_${n}`
    used.add(key)
    vars.push({ index, key })
  })
  if (vars.length > MAX_VARS) throw new DialerError('FED_DIALER_BAD_CSV', `${vars.length} var columns; at most ${MAX_VARS} travel with a call`)
  return { phone, tz, vars, width: record.length }
}
