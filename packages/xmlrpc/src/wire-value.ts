// What the `xmlrpc` serializer can write faithfully. Handed anything else it writes invalid
// or wrong XML-RPC without a word: NaN and Infinity as <double>NaN</double>, integers beyond
// 32 bits as <int>, a bigint, undefined or function as an empty <value/> (read back as ''),
// an Error or a Map as an empty struct, and a cycle loops forever. So every outgoing value is
// copied through prepareWire first, which refuses those with the path of the culprit.

// XML 1.0 cannot carry these characters at all, even escaped; xmlbuilder throws on them.
// Lone surrogates would be written and then mangled to U+FFFD by UTF-8 encoding.
const XML_INVALID = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/ // eslint-disable-line no-control-regex

const INT32_MIN = -2147483648
const INT32_MAX = 2147483647

export class WireValueError extends Error {
  constructor (readonly path: string, problem: string) {
    super(`${path === '' ? '/' : path}: ${problem}`)
    this.name = 'WireValueError'
  }
}

/** True when the string holds a character XML 1.0 cannot carry. */
export function hasXmlInvalidChar (text: string): boolean {
  return XML_INVALID.test(text)
}

/** Replaces characters XML cannot carry (for fault strings built from untrusted text). */
export function xmlSafe (text: string, max = 1000): string {
  const short = text.length > max ? `${text.slice(0, max)}…` : text
  return short.replace(new RegExp(XML_INVALID.source, 'g'), '\ufffd')
}

/**
 * Returns a copy of `value` the serializer writes exactly (undefined struct members are
 * dropped, typed arrays become Buffers), or throws WireValueError naming the path.
 */
export function prepareWire (value: unknown, maxDepth = 32, path = '', depth = 0): unknown {
  switch (typeof value) {
    case 'string':
      if (XML_INVALID.test(value)) throw new WireValueError(path, 'string holds a character XML cannot carry')
      return value
    case 'boolean':
      return value
    case 'number':
      if (!Number.isFinite(value)) throw new WireValueError(path, `${value} has no XML-RPC form`)
      if (Number.isInteger(value) && (value > INT32_MAX || value < INT32_MIN)) {
        throw new WireValueError(path, 'integer outside the 32-bit range of <int>')
      }
      return value
    case 'object':
      break
    default:
      throw new WireValueError(path, `a ${typeof value} has no XML-RPC form`)
  }
  if (value === null) return null
  if (depth >= maxDepth) throw new WireValueError(path, `nested deeper than ${maxDepth} (or a cycle)`)
  if (value instanceof Date) {
    const year = value.getUTCFullYear()
    if (Number.isNaN(value.getTime()) || year < 0 || year > 9999) throw new WireValueError(path, 'invalid or out-of-range Date')
    return value
  }
  if (Buffer.isBuffer(value)) return value
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length)
    for (let i = 0; i < value.length; i++) out[i] = prepareWire(value[i], maxDepth, `${path}/${i}`, depth + 1)
    return out
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) {
    throw new WireValueError(path, `a ${(value as object).constructor?.name ?? 'class instance'} is not a plain struct`)
  }
  // Null prototype: a member named __proto__ stays a member, never a prototype.
  const out: Record<string, unknown> = Object.create(null)
  for (const key of Object.keys(value)) {
    const member = (value as Record<string, unknown>)[key]
    if (member === undefined) continue
    if (XML_INVALID.test(key)) throw new WireValueError(path, 'struct member name holds a character XML cannot carry')
    out[key] = prepareWire(member, maxDepth, `${path}/${key}`, depth + 1)
  }
  return out
}
