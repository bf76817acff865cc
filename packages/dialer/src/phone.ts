import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js'

export type NormalizedPhone = { e164: string, country: string | undefined } | { error: string }

/**
 * A phone number in E.164, or why it is not one. National numbers are read in `defaultCountry`
 * (ISO 3166 alpha-2); numbers with a leading + or 00 need none.
 */
export function normalizePhone (raw: string, defaultCountry?: string): NormalizedPhone {
  const text = String(raw ?? '').trim()
  if (!text) return { error: 'empty phone number' }
  if (text.length > 64) return { error: 'phone number too long' }
  // 00 is the international prefix in most of the world; libphonenumber only knows it per country.
  const input = text.startsWith('00') ? `+${text.slice(2)}` : text
  const parsed = parsePhoneNumberFromString(input, defaultCountry as CountryCode | undefined)
  if (!parsed) return { error: `not a phone number: ${JSON.stringify(text.slice(0, 40))}` }
  if (!parsed.isValid()) return { error: `invalid phone number: ${JSON.stringify(text.slice(0, 40))}` }
  return { e164: parsed.number, country: parsed.country }
}
