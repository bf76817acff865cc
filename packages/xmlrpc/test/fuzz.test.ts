import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { Readable } from 'node:stream'
import fc from 'fast-check'
import { FaultError } from '@federate/protocol'
import { decodeMethodCall, encodeMethodCall, prepareWire } from '../src/index.ts'
import { buildApp, callXml, plain, rpc, structParam } from './helpers.ts'

// Property: whatever arrives, the server answers a well-formed methodResponse (a result or a
// fault) with HTTP 200, and the decoder itself only ever throws FaultError.

const SEEDS = [
  callXml('add', '<param><value><int>2</int></value></param><param><value><int>3</int></value></param>'),
  callXml('call.end', structParam({ callId: '<string>c</string>', instanceId: '<string>i</string>', cause: 'x', durationSec: '<double>1.5</double>', billSec: '<int>1</int>' })),
  callXml('echo', '<param><value><array><data><value><base64>AAE=</base64></value><value><dateTime.iso8601>20240101T00:00:00</dateTime.iso8601></value><value><nil/></value><value><boolean>1</boolean></value></data></array></value></param>'),
  callXml('system.multicall', '<param><value><array><data><value><struct><member><name>methodName</name><value>add</value></member><member><name>params</name><value><array><data><value><int>1</int></value><value><int>1</int></value></data></array></value></member></struct></value></data></array></value></param>'),
]

const FRAGMENTS = ['<', '>', '</', '/>', '<value>', '</value>', '<struct>', '<member>', '<name>__proto__</name>', '<int>', '</int>',
  '<!DOCTYPE x>', '<![CDATA[', ']]>', '&amp;', '&lol;', '\u0000', '\uffff', '<?xml version="1.0"?>', '<methodCall>', '</methodCall>', '<array><data>']

// A mutation: cut a range, insert a fragment or random text, or duplicate a slice.
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), len: fc.nat({ max: 40 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 12 })) }),
  fc.record({ kind: fc.constant('dup' as const), at: fc.nat(), len: fc.nat({ max: 80 }) })
)

type Mutation = { kind: 'cut' | 'dup', at: number, len: number } | { kind: 'insert', at: number, text: string }

function mutate (seed: string, steps: Mutation[]): string {
  let s = seed
  for (const m of steps) {
    const at = m.at % (s.length + 1)
    if (m.kind === 'cut') s = s.slice(0, at) + s.slice(at + m.len)
    else if (m.kind === 'insert') s = s.slice(0, at) + m.text + s.slice(at)
    else s = s.slice(0, at) + s.slice(at, at + m.len) + s.slice(at)
  }
  return s
}

test('random bytes and mutated requests always get a result or a fault, never a crash', async (t) => {
  const { app } = await buildApp()
  t.after(() => app.close())
  const answer = async (body: string | Buffer) => {
    const r = await rpc(app, body)
    assert.equal(r.status, 200, r.body.slice(0, 200))
    assert.ok(r.decoded !== undefined)
  }
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => answer(Buffer.from(bytes))), { numRuns: 100 })
  await fc.assert(fc.asyncProperty(fc.constantFrom(...SEEDS), fc.array(mutation, { minLength: 1, maxLength: 5 }),
    async (seed, steps) => answer(mutate(seed, steps))), { numRuns: 250 })
  const good = await rpc(app, SEEDS[0]!)
  assert.deepEqual(good.decoded, { ok: true, value: 5 })
})

test('the decoder throws only FaultError, for any string', () => {
  fc.assert(fc.property(fc.oneof(
    fc.string({ maxLength: 200, unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }),
    fc.array(fc.constantFrom(...FRAGMENTS, 'x', ' ', '1'), { maxLength: 60 }).map((parts) => parts.join(''))
  ), (text) => {
    try {
      decodeMethodCall(text, { maxDepth: 64 })
    } catch (err) {
      assert.ok(err instanceof FaultError, String(err))
    }
  }), { numRuns: 1000 })
})

test('the strict reader decodes what the serializer writes exactly as sax and the original deserializer do', async () => {
  const require = createRequire(import.meta.url)
  const Original = require('xmlrpc/lib/deserializer.js') as new () => {
    deserializeMethodCall: (stream: Readable, cb: (err: Error | null, method?: string, params?: unknown[]) => void) => void
  }
  const viaSax = (xml: string) => new Promise<unknown[]>((resolve, reject) => {
    new Original().deserializeMethodCall(Readable.from([Buffer.from(xml)]), (err, _m, params) => (err ? reject(err) : resolve(params!)))
  })
  const text = fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/.test(s)) // eslint-disable-line no-control-regex
  const { value } = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' },
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.boolean(), text, fc.constant(null),
      fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 }).filter((d) => !Number.isInteger(d) || Math.abs(d) < 2 ** 31),
      fc.integer({ min: 0, max: 4102444800 }).map((s) => new Date(s * 1000)),
      fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b)),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(text.filter((k) => k !== '__proto__'), tie('value'), { maxKeys: 4 })
    ),
  }))
  await fc.assert(fc.asyncProperty(fc.array(value, { maxLength: 3 }), async (params) => {
    const xml = encodeMethodCall('m.x', prepareWire(params) as unknown[])
    const ours = decodeMethodCall(xml, { maxDepth: 64 })
    assert.deepEqual(plain(ours.params), plain(await viaSax(xml)))
  }), { numRuns: 200 })
})
