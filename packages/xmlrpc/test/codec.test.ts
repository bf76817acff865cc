import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FaultError } from '@federate/protocol'
import {
  decodeMethodCall, decodeMethodResponse, decodeUtcDateTime, encodeFault, encodeMethodCall,
  encodeMethodResponse, encodeUtcDateTime, prepareWire, WireValueError,
} from '../src/index.ts'
import { checkXml as guardXml } from '../src/xml-reader.ts'

const limits = { maxDepth: 64 }

function faultCode (fn: () => unknown): number {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof FaultError, `expected a FaultError, got ${String(err)}`)
    return err.faultCode
  }
  assert.fail('expected a fault')
}

test('dateTime is written and read as UTC whatever TZ says', () => {
  const saved = process.env.TZ
  try {
    process.env.TZ = 'America/St_Johns' // UTC-3:30: a half-hour zone
    const d = new Date('2024-02-29T23:45:06.789Z')
    assert.equal(encodeUtcDateTime(d), '20240229T23:45:06')
    assert.equal(decodeUtcDateTime('20240229T23:45:06').toISOString(), '2024-02-29T23:45:06.000Z')
    assert.match(encodeMethodResponse(d), /<dateTime\.iso8601>20240229T23:45:06<\/dateTime\.iso8601>/)
  } finally {
    process.env.TZ = saved
  }
})

test('dateTime input accepts the usual ISO 8601 spellings and refuses impossible dates', () => {
  const iso = (s: string) => decodeUtcDateTime(s).toISOString()
  assert.equal(iso('2024-02-29T13:14:15'), '2024-02-29T13:14:15.000Z')
  assert.equal(iso('20240229T131415'), '2024-02-29T13:14:15.000Z')
  assert.equal(iso('20240229T13:14:15.25Z'), '2024-02-29T13:14:15.250Z')
  assert.equal(iso('20240229T13:14:15+05:30'), '2024-02-29T07:44:15.000Z')
  assert.equal(iso('20240229T13:14:15-0100'), '2024-02-29T14:14:15.000Z')
  assert.equal(iso(' 20240229 '), '2024-02-29T00:00:00.000Z')
  for (const bad of ['20230229T00:00:00', '20241301T00:00:00', '20240101T24:00:00', '2024', 'yesterday', '20240101T00:00:00junk']) {
    assert.throws(() => decodeUtcDateTime(bad), Error, bad)
  }
})

test('prepareWire copies what XML-RPC can carry and names the path of what it cannot', () => {
  const u8 = new Uint8Array([1, 2, 3])
  const out = prepareWire({ a: [1, 'x', null, true, 1.5], skip: undefined, bytes: u8, when: new Date(0), ['__proto__']: { b: 1 } }) as Record<string, unknown>
  assert.equal(Object.getPrototypeOf(out), null)
  assert.deepEqual(Object.keys(out), ['a', 'bytes', 'when', '__proto__'])
  assert.ok(Buffer.isBuffer(out.bytes))
  for (const [value, path] of [
    [{ a: [1, NaN] }, '/a/1'], [{ x: Infinity }, '/x'], [{ x: 2 ** 31 }, '/x'], [{ x: -(2 ** 31) - 1 }, '/x'],
    [{ x: 1n }, '/x'], [[undefined], '/0'], [{ f: () => 1 }, '/f'], [{ e: new Error('x') }, '/e'],
    [{ m: new Map() }, '/m'], [{ s: 'a\u0000' }, '/s'], [{ 'bad\u0001key': 1 }, ''], [{ d: new Date(NaN) }, '/d'],
    [{ s: '\ud800' }, '/s'],
  ] as Array<[unknown, string]>) {
    assert.throws(() => prepareWire(value), (err: unknown) => err instanceof WireValueError && err.path === path, JSON.stringify(path))
  }
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  assert.throws(() => prepareWire(cyclic), WireValueError)
  assert.equal(prepareWire(2 ** 31 - 1), 2147483647)
  assert.equal(prepareWire('emoji 😀 ok'), 'emoji 😀 ok')
})

test('the guard accepts comments, PIs, CDATA and quoted > but not DTDs, second roots or deep nesting', () => {
  guardXml('<?xml version="1.0" encoding="UTF-8"?><!-- hi --><a x="1>2" y=\'<\'><b><![CDATA[<not a tag>]]></b><c/></a>\n', 64)
  const nested = (n: number) => `${'<v>'.repeat(n)}${'</v>'.repeat(n)}`
  guardXml(nested(64), 64)
  assert.equal(faultCode(() => guardXml(nested(65), 64)), -32600)
  for (const [xml, code] of [
    ['<a></b>', -32700], ['<a>', -32700], ['<a/><b/>', -32700], ['x<a/>', -32700], ['<a/>x', -32700],
    ['<a><!-- open', -32700], ['<a><![CDATA[ open</a>', -32700], ['<a x="1', -32700], ['', -32700],
    ['<!DOCTYPE a><a/>', -32600], ['<a><!ENTITY x "y"></a>', -32600],
    ['<?xml version="1.0" encoding="UTF-16"?><a/>', -32701], [' <?xml version="1.0"?><a/>', -32700],
  ] as Array<[string, number]>) {
    assert.equal(faultCode(() => guardXml(xml, 64)), code, xml)
  }
})

test('a call survives encode and decode; numbers are read strictly', () => {
  const xml = encodeMethodCall('call.step', [{ a: 1, b: 'two', c: [true, null], d: Buffer.from('x') }])
  const call = decodeMethodCall(Buffer.from(xml), limits)
  assert.equal(call.method, 'call.step')
  assert.deepEqual(JSON.parse(JSON.stringify(call.params)), [{ a: 1, b: 'two', c: [true, null], d: { type: 'Buffer', data: [120] } }])
  const withValue = (v: string) => `<methodCall><methodName>m</methodName><params><param><value>${v}</value></param></params></methodCall>`
  assert.deepEqual(decodeMethodCall(withValue('<int> -42 </int>'), limits).params, [-42])
  assert.deepEqual(decodeMethodCall(withValue('<double>.5e1</double>'), limits).params, [5])
  for (const bad of ['<int>1.5</int>', '<int></int>', '<i4>0x10</i4>', '<double>1e999</double>', '<double>NaN</double>', '<boolean>true</boolean>', '<base64>@@@</base64>']) {
    assert.equal(faultCode(() => decodeMethodCall(withValue(bad), limits)), -32602, bad)
  }
  assert.equal(faultCode(() => decodeMethodCall(withValue('<struct><member><value><int>1</int></value></member></struct>'), limits)), -32600)
  assert.equal(faultCode(() => decodeMethodCall('<methodCall><params/></methodCall>', limits)), -32600)
})

test('responses decode into a value or a fault struct', () => {
  assert.deepEqual(decodeMethodResponse(encodeMethodResponse([1, 'a']), limits), { ok: true, value: [1, 'a'] })
  assert.deepEqual(decodeMethodResponse(encodeFault({ faultCode: 1301, faultString: 'keep it \u0000' }), limits), { ok: false, fault: { faultCode: 1301, faultString: 'keep it \ufffd' } })
  assert.throws(() => decodeMethodResponse('<methodResponse></methodResponse>', limits), FaultError)
})
