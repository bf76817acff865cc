import { FaultError, type FaultStruct } from '@federate/protocol'
import './dates.ts'
import { readXml, type XmlSink } from './xml-reader.ts'
import { xmlSafe } from './wire-value.ts'
import deserializerModule from 'xmlrpc/lib/deserializer.js'
import serializerModule from 'xmlrpc/lib/serializer.js'
import dateFormatterModule from 'xmlrpc/lib/date_formatter.js'

// The `xmlrpc` package's own codec (lib/deserializer.js's handlers, lib/serializer.js on
// xmlbuilder), used directly: never its server or client. Its lenient spots are closed here:
// - structs are built with a null prototype (a `__proto__` member set the prototype);
// - <int>12abc</int> was 12, <double>1e5x</double> was 100000: numbers are read strictly;
// - its handlers are fed by our strict reader (xml-reader.ts) from a strictly decoded UTF-8
//   string, synchronously, instead of by sax in lenient mode through a stream;
// - values reach the serializer through prepareWire (wire-value.ts), and callers still wrap
//   it: xmlbuilder throws on control characters.

interface DeserializerInstance {
  stack: unknown[]
  marks: number[]
  value: boolean
  push: (value: unknown) => void
  deserializeMethodCall: (stream: unknown, cb: (err: Error | null | undefined, method?: string, params?: unknown[]) => void) => void
  deserializeMethodResponse: (stream: unknown, cb: (err: (Error & Partial<FaultStruct>) | null | undefined, value?: unknown) => void) => void
}
type DeserializerClass = new (encoding?: string) => DeserializerInstance
interface Serializer {
  serializeMethodCall: (method: string, params: unknown[]) => string
  serializeMethodResponse: (value: unknown) => string
  serializeFault: (fault: FaultStruct) => string
}

const Deserializer = deserializerModule as DeserializerClass
const serializer = serializerModule as Serializer
const dates = dateFormatterModule as { decodeIso8601: (text: string) => Date }

/** A value that is well-formed XML but not a valid XML-RPC scalar: the caller's params are wrong. */
class BadValue extends Error {}
/** Well-formed XML that is not a valid XML-RPC message. */
class BadMessage extends Error {}

const INT = /^\s*[+-]?\d{1,10}\s*$/
const DOUBLE = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/
const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/

class SafeDeserializer extends (Deserializer as DeserializerClass) {
  endStruct (): void {
    const mark = this.marks.pop()!
    const items = this.stack.splice(mark)
    if (items.length % 2 !== 0) throw new BadMessage('struct member without a name or a value')
    const struct: Record<string, unknown> = Object.create(null)
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i]
      if (typeof key !== 'string') throw new BadMessage('struct member without a name')
      struct[key] = items[i + 1]
    }
    this.stack.push(struct)
    this.value = false
  }

  endInt (data: string): void {
    const n = INT.test(data) ? Number(data) : NaN
    if (!Number.isInteger(n) || n > 2147483647 || n < -2147483648) throw new BadValue(`<int> must be a 32-bit integer, got '${data.slice(0, 40)}'`)
    this.push(n)
    this.value = false
  }

  endDouble (data: string): void {
    const n = DOUBLE.test(data) ? Number(data) : NaN
    if (!Number.isFinite(n)) throw new BadValue(`<double> must be a finite number, got '${data.slice(0, 40)}'`)
    this.push(n)
    this.value = false
  }

  endBoolean (data: string): void {
    const t = data.trim()
    if (t !== '0' && t !== '1') throw new BadValue(`<boolean> must be 0 or 1, got '${data.slice(0, 40)}'`)
    this.push(t === '1')
    this.value = false
  }

  endBase64 (data: string): void {
    if (!BASE64.test(data)) throw new BadValue('<base64> holds characters outside base64')
    this.push(Buffer.from(data, 'base64'))
    this.value = false
  }

  endDateTime (data: string): void {
    try {
      this.push(dates.decodeIso8601(data))
    } catch {
      throw new BadValue(`<dateTime.iso8601> is not an ISO 8601 date, got '${data.slice(0, 40)}'`)
    }
    this.value = false
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** Limits applied while decoding. */
export interface DecodeLimits {
  /** Maximum element nesting depth of the XML document. */
  maxDepth: number
}

function toText (body: Buffer | string): string {
  if (typeof body === 'string') return body
  try {
    return strictUtf8.decode(body)
  } catch (err) {
    throw new FaultError('UNSUPPORTED_ENCODING', 'the body is not valid UTF-8', { cause: err })
  }
}

// The deserializer's fields, as its constructor sets them, minus the SAXStream it would build
// (which cost more than a whole parse): our reader feeds its handlers instead.
function freshDeserializer (): DeserializerInstance & XmlSink & { onDone: () => void } {
  const d = Object.create(SafeDeserializer.prototype) as DeserializerInstance & XmlSink & { onDone: () => void } & Record<string, unknown>
  d.type = null
  d.responseType = null
  d.stack = []
  d.marks = []
  d.data = []
  d.methodname = null
  d.encoding = 'utf8'
  d.value = false
  d.callback = null
  d.error = null
  return d
}

// Runs the deserializer synchronously over `text`: the "stream" it pipes from is our reader.
function run (text: string, maxDepth: number, start: (d: DeserializerInstance, stream: unknown) => void): void {
  const d = freshDeserializer()
  const stream = {
    setEncoding () {},
    on () { return stream },
    pipe () {
      readXml(text, maxDepth, d)
      d.onDone()
    },
  }
  start(d, stream)
}

function classify (err: Error): FaultError {
  if (err instanceof BadValue) return new FaultError('INVALID_PARAMS', err.message)
  return new FaultError('INVALID_REQUEST', xmlSafe(err.message, 200))
}

// Reader faults pass through; anything else thrown while decoding is a parse error.
function rethrow (err: unknown): never {
  if (err instanceof FaultError) throw err
  throw new FaultError('PARSE_ERROR', undefined, { cause: err })
}

/** A decoded <methodCall>. Structs in params have a null prototype. */
export interface DecodedCall { method: string, params: unknown[] }

/** Decodes a request body into a method call, or throws a FaultError saying why not. */
export function decodeMethodCall (body: Buffer | string, limits: DecodeLimits): DecodedCall {
  const text = toText(body)
  let result: DecodedCall | undefined
  let failure: Error | undefined
  try {
    run(text, limits.maxDepth, (d, stream) => d.deserializeMethodCall(stream, (err, method, params) => {
      if (err) failure = err
      else result = { method: method!, params: params! }
    }))
  } catch (err) {
    rethrow(err)
  }
  if (failure !== undefined) throw classify(failure)
  if (result === undefined) throw new FaultError('PARSE_ERROR', 'incomplete document')
  return result
}

/** A decoded <methodResponse>: a value or a fault. */
export type DecodedResponse = { ok: true, value: unknown } | { ok: false, fault: FaultStruct }

/** Decodes a response body; throws (a FaultError describing the problem) when it is not one. */
export function decodeMethodResponse (body: Buffer | string, limits: DecodeLimits): DecodedResponse {
  const text = toText(body)
  let result: DecodedResponse | undefined
  let failure: Error | undefined
  try {
    run(text, limits.maxDepth, (d, stream) => d.deserializeMethodResponse(stream, (err, value) => {
      if (err && typeof err.faultCode === 'number') {
        result = { ok: false, fault: { faultCode: err.faultCode, faultString: String(err.faultString ?? '') } }
      } else if (err) {
        failure = err
      } else {
        result = { ok: true, value }
      }
    }))
  } catch (err) {
    rethrow(err)
  }
  if (failure !== undefined) throw classify(failure)
  if (result === undefined) throw new FaultError('PARSE_ERROR', 'incomplete document')
  return result
}

/** Serializes a method response. The value must have gone through prepareWire. */
export function encodeMethodResponse (value: unknown): string {
  return serializer.serializeMethodResponse(value)
}

/** Serializes a fault; the fault string is made XML-safe first, so this does not throw. */
export function encodeFault (fault: FaultStruct): string {
  return serializer.serializeFault({ faultCode: fault.faultCode, faultString: xmlSafe(fault.faultString) })
}

/** Serializes a method call. The params must have gone through prepareWire. */
export function encodeMethodCall (method: string, params: unknown[]): string {
  return serializer.serializeMethodCall(method, params)
}
