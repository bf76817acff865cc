import dateFormatterModule from 'xmlrpc/lib/date_formatter.js'

// XML-RPC's dateTime.iso8601 carries no time zone. The `xmlrpc` package writes local time and
// reads an offset-less value as local time, so two processes in different zones disagree.
// Federate defines the wire value as UTC: this module makes the package's shared date
// formatter (one instance per process, used by its serializer and deserializer) read and
// write UTC whatever TZ says. Output stays `YYYYMMDDTHH:MM:SS` (no `Z`), the form Python's
// xmlrpc.client and most peers parse; an explicit offset on input is honoured.

interface DateFormatter {
  encodeIso8601: (date: Date) => string
  decodeIso8601: (text: string) => Date
}

const formatter = dateFormatterModule as DateFormatter

const ISO8601 = /^(\d{4})-?(\d{2})-?(\d{2})(?:T(\d{2}):?(\d{2})(?::?(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/

const pad = (n: number, width = 2): string => String(n).padStart(width, '0')

/** Writes a Date as XML-RPC dateTime in UTC: `20240229T13:14:15`. */
export function encodeUtcDateTime (date: Date): string {
  return `${pad(date.getUTCFullYear(), 4)}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}T` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`
}

/** Reads an XML-RPC dateTime; no offset means UTC. Throws on anything that is not a real date. */
export function decodeUtcDateTime (text: string): Date {
  const m = ISO8601.exec(text.trim())
  if (m === null) throw new Error('expected an ISO 8601 dateTime')
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])]
  const [hour, minute, second] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)]
  const ms = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000)
  let t = Date.UTC(year, month - 1, day, hour, minute, second, ms)
  const check = new Date(t)
  // Date.UTC rolls 2024-02-30 over into March: refuse instead.
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    throw new Error('expected an ISO 8601 dateTime')
  }
  const zone = m[8]
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1
    const digits = zone.slice(1).replace(':', '')
    t -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0)) * 60_000
  }
  return new Date(t)
}

formatter.encodeIso8601 = encodeUtcDateTime
formatter.decodeIso8601 = decodeUtcDateTime
