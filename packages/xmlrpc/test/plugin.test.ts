import { test } from 'node:test'
import assert from 'node:assert/strict'
import { FaultError, Faults, Methods } from '@federate/protocol'
import { buildApp, callXml, faultOf, plain, rpc, structParam, type TestApp } from './helpers.ts'

const int = (n: number | string) => `<param><value><int>${n}</int></value></param>`
const GOOD = callXml('add', int(2) + int(3))

const callEnd = (over: Record<string, string> = {}) => callXml('call.end', structParam({
  callId: '<string>c-1</string>',
  instanceId: '<string>i-1</string>',
  cause: '<string>16</string>',
  durationSec: '<double>12.5</double>',
  billSec: '<int>10</int>',
  ...over,
}))

async function assertStillServing (app: TestApp['app']): Promise<void> {
  const r = await rpc(app, GOOD)
  assert.deepEqual(r.decoded, { ok: true, value: 5 })
}

async function setup (t: { after: (fn: () => Promise<void>) => void }, ...args: Parameters<typeof buildApp>): Promise<TestApp> {
  const built = await buildApp(...args)
  t.after(() => built.app.close())
  return built
}

test('a protocol method answers its typed result with text/xml and HTTP 200', async (t) => {
  const { app, calls } = await setup(t)
  const r = await rpc(app, callEnd())
  assert.equal(r.contentType, 'text/xml; charset=utf-8')
  assert.deepEqual(plain(r.decoded), { ok: true, value: { ok: true } })
  assert.equal(calls.at(-1)?.method, 'call.end')
  assert.equal(calls.at(-1)?.faultCode, undefined)
  assert.ok((calls.at(-1)?.durationMs ?? -1) >= 0)
})

test('bad input gets its fault or HTTP error quickly and the server keeps serving', async (t) => {
  const { app } = await setup(t)
  const deep = 10_000
  const cases: Array<{ name: string, body: string | Buffer, headers?: Record<string, string>, fault?: number, status?: number, text?: RegExp }> = [
    { name: 'malformed XML', body: callXml('add', '<param><value><int>1</value></param>'), fault: -32700 },
    { name: 'truncated body', body: GOOD.slice(0, GOOD.length - 20), fault: -32700 },
    { name: 'truncated before the root closes', body: GOOD.replace('</methodCall>', ''), fault: -32700 },
    { name: 'empty body', body: '', fault: -32700 },
    { name: 'not XML at all', body: 'hello', fault: -32700 },
    {
      name: 'billion laughs',
      body: '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>' + callXml('echo', '<param><value><string>&lol3;</string></value></param>').replace('<?xml version="1.0"?>', ''),
      fault: -32600,
      text: /DOCTYPE/,
    },
    {
      name: 'external entity (XXE)',
      body: '<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + callXml('echo', '<param><value><string>&xxe;</string></value></param>').replace('<?xml version="1.0"?>', ''),
      fault: -32600,
    },
    { name: 'a DOCTYPE without entities', body: '<!DOCTYPE methodCall>' + GOOD.replace('<?xml version="1.0"?>', ''), fault: -32600 },
    { name: '10,000-deep nesting', body: callXml('echo', `<param>${'<value><array><data>'.repeat(deep)}${'</data></array></value>'.repeat(deep)}</param>`), fault: -32600, text: /deeper than 64/ },
    { name: 'a wrong type in a protocol struct', body: callEnd({ billSec: '<string>10</string>' }), fault: -32602, text: /\/billSec/ },
    { name: 'a lenient int like 12abc', body: callXml('add', int('12abc') + int(1)), fault: -32602 },
    { name: 'an int beyond 32 bits', body: callXml('add', int('4294967296') + int(1)), fault: -32602 },
    { name: 'a double that is not finite', body: callXml('echo', '<param><value><double>inf</double></value></param>'), fault: -32602 },
    { name: 'a boolean other than 0 or 1', body: callXml('echo', '<param><value><boolean>yes</boolean></value></param>'), fault: -32602 },
    { name: 'an impossible dateTime', body: callXml('echo', '<param><value><dateTime.iso8601>20240230T00:00:00</dateTime.iso8601></value></param>'), fault: -32602 },
    { name: 'a missing member in a protocol struct', body: callXml('call.end', structParam({ callId: '<string>c</string>' })), fault: -32602, text: /instanceId/ },
    { name: 'an extra member in a protocol struct', body: callEnd({ extra: '<int>1</int>' }), fault: -32602 },
    { name: 'two params to a one-struct method', body: callEnd().replace('</params>', int(1) + '</params>'), fault: -32602, text: /exactly one struct/ },
    { name: 'a string beyond the schema maxLength', body: callEnd({ cause: `<string>${'x'.repeat(100_000)}</string>` }), fault: -32602, text: /\/cause/ },
    { name: 'invalid UTF-8', body: Buffer.concat([Buffer.from(callXml('echo', '<param><value><string>')), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('</string></value></param></params></methodCall>')]), fault: -32701 },
    { name: 'a non-UTF-8 declared encoding', body: GOOD.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="ISO-8859-1"?>'), fault: -32701 },
    { name: 'a non-UTF-8 charset header', body: GOOD, headers: { 'content-type': 'text/xml; charset=iso-8859-1' }, fault: -32701 },
    { name: 'an unknown method', body: callXml('no.such.method'), fault: -32601, text: /no\.such\.method/ },
    { name: 'an unknown XML-RPC tag', body: callXml('echo', '<param><value><float>1</float></value></param>'), fault: -32600 },
    { name: 'a methodResponse instead of a call', body: '<?xml version="1.0"?><methodResponse><params><param><value><int>1</int></value></param></params></methodResponse>', fault: -32600 },
    { name: 'wrong content type', body: GOOD, headers: { 'content-type': 'application/json' }, status: 415 },
    { name: 'form content type', body: GOOD, headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415 },
    { name: 'a 10 MB body', body: Buffer.alloc(10 * 1024 * 1024, 0x20), status: 413 },
  ]
  for (const c of cases) {
    const r = await rpc(app, c.body, c.headers)
    if (c.status !== undefined) {
      assert.equal(r.status, c.status, c.name)
    } else {
      assert.equal(r.status, 200, `${c.name}: ${r.body.slice(0, 200)}`)
      assert.equal(faultOf(r), c.fault, `${c.name}: ${r.body.slice(0, 300)}`)
      if (c.text && r.decoded?.ok === false) assert.match(r.decoded.fault.faultString, c.text, c.name)
    }
    assert.ok(r.ms < 1000, `${c.name} took ${r.ms} ms`)
    await assertStillServing(app)
  }
})

test('application/xml is accepted like text/xml, with or without a charset', async (t) => {
  const { app } = await setup(t)
  for (const type of ['application/xml', 'text/xml; charset=UTF-8', 'text/xml;charset="utf-8"']) {
    const r = await rpc(app, GOOD, { 'content-type': type })
    assert.deepEqual(r.decoded, { ok: true, value: 5 }, type)
  }
})

test('the body limit is an option and a body just under it is served', async (t) => {
  const { app } = await setup(t, { bodyLimit: 4096 })
  const pad = 'x'.repeat(3000)
  const ok = await rpc(app, callXml('echo', `<param><value><string>${pad}</string></value></param>`))
  assert.deepEqual(ok.decoded, { ok: true, value: pad })
  const big = await rpc(app, callXml('echo', `<param><value><string>${pad}${pad}</string></value></param>`))
  assert.equal(big.status, 413)
})

test('a huge string within the body limit round-trips intact', async (t) => {
  const { app } = await setup(t)
  const huge = 'ä<&>'.repeat(150_000) // 750 KB as CDATA: under the 1 MiB default
  const r = await rpc(app, callXml('echo', `<param><value><string><![CDATA[${huge}]]></string></value></param>`))
  assert.ok(r.ms < 2000, `took ${r.ms} ms`)
  assert.deepEqual(r.decoded, { ok: true, value: huge })
})

test('a __proto__ member stays a member of a null-prototype struct and pollutes nothing', async (t) => {
  const { app } = await setup(t)
  const body = callXml('prototypes', structParam({ ['__proto__']: '<struct><member><name>polluted</name><value><boolean>1</boolean></value></member></struct>' }))
  const r = await rpc(app, body)
  assert.deepEqual(plain(r.decoded), { ok: true, value: { nullPrototype: true, ownProto: true, polluted: false } })
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
  // In a protocol struct it is just an unknown member.
  const bad = await rpc(app, callEnd({ ['__proto__']: '<struct></struct>' }))
  assert.equal(faultOf(bad), -32602)
})

test('a handler FaultError becomes its fault; any other error is a generic -32603, logged with the request id', async (t) => {
  const { app, logs } = await setup(t)
  const fault = await rpc(app, callXml('fail'))
  assert.deepEqual(fault.decoded, { ok: false, fault: { faultCode: Faults.NOT_FOUND.code, faultString: 'unknown id: no such thing' } })
  const boom = await rpc(app, callXml('boom'))
  assert.deepEqual(boom.decoded, { ok: false, fault: { faultCode: -32603, faultString: 'internal error' } })
  assert.doesNotMatch(boom.body, /secret|app\.ts|at /)
  const logged = logs.find((l) => l.msg === 'xmlrpc method failed')
  assert.ok(logged, 'the real error is logged')
  assert.equal(logged.err.message, 'secret detail at /srv/app.ts:42')
  assert.equal(logged.method, 'boom')
  assert.ok(logged.reqId, 'with the request id')
})

test('results XML-RPC cannot carry are refused with -32603 instead of written wrong', async (t) => {
  const { app, logs } = await setup(t)
  for (const method of ['nan', 'big', 'bigint', 'error.object', 'control', 'cycle', 'instance.heartbeat']) {
    const body = method === 'instance.heartbeat'
      ? callXml(method, structParam({ instanceId: '<string>i</string>', activeCalls: '<int>1</int>', capacity: '<int>2</int>', manifestVersion: '<int>3</int>', version: '<string>1</string>' }))
      : callXml(method)
    const r = await rpc(app, body)
    assert.deepEqual(r.decoded, { ok: false, fault: { faultCode: -32603, faultString: 'internal error' } }, method)
  }
  assert.ok(logs.some((l) => l.method === 'instance.heartbeat' && /schema/.test(l.msg)), 'a schema break is logged')
  assert.ok(logs.some((l) => l.method === 'nan' && /NaN/.test(l.problem)), 'the wire problem is logged')
  await assertStillServing(app)
})

test('every XML-RPC type the codec supports comes back from echo unchanged', async (t) => {
  const { app } = await setup(t)
  const values = {
    int: ['<int>-2147483648</int>', -2147483648],
    i4: ['<i4>7</i4>', 7],
    boolean: ['<boolean>1</boolean>', true],
    string: ['<string>a &lt;b&gt; &amp; ]]&gt;</string>', 'a <b> & ]]>'],
    untyped: ['plain text', 'plain text'],
    double: ['<double>-1.25e2</double>', -125],
    dateTime: ['<dateTime.iso8601>20240229T13:14:15</dateTime.iso8601>', new Date('2024-02-29T13:14:15Z')],
    base64: ['<base64>AAH+/w==</base64>', Buffer.from([0, 1, 254, 255])],
    nil: ['<nil/>', null],
    array: ['<array><data><value><int>1</int></value><value><string>x</string></value></data></array>', [1, 'x']],
    struct: ['<struct><member><name>a</name><value><struct><member><name>b</name><value><int>2</int></value></member></struct></value></member></struct>', { a: { b: 2 } }],
  } as const
  for (const [name, [xml, expected]] of Object.entries(values)) {
    const r = await rpc(app, callXml('echo', `<param><value>${xml}</value></param>`))
    assert.deepEqual(plain(r.decoded), { ok: true, value: expected }, name)
  }
})

test('system.listMethods, methodHelp and methodSignature describe the registry', async (t) => {
  const { app } = await setup(t)
  const list = await rpc(app, callXml('system.listMethods'))
  assert.ok(list.decoded?.ok)
  const names = list.decoded.value as string[]
  for (const n of ['call.end', 'echo', 'system.listMethods', 'system.methodHelp', 'system.methodSignature', 'system.multicall']) assert.ok(names.includes(n), n)
  assert.deepEqual(names, [...names].sort())

  const help = await rpc(app, callXml('system.methodHelp', '<param><value>call.end</value></param>'))
  assert.deepEqual(help.decoded, { ok: true, value: Methods['call.end'].help })
  const sig = await rpc(app, callXml('system.methodSignature', '<param><value>call.end</value></param>'))
  assert.deepEqual(sig.decoded, { ok: true, value: [['struct', 'struct']] })
  const addSig = await rpc(app, callXml('system.methodSignature', '<param><value>add</value></param>'))
  assert.deepEqual(addSig.decoded, { ok: true, value: [['int', 'int', 'int']] })
  const missing = await rpc(app, callXml('system.methodHelp', '<param><value>nope</value></param>'))
  assert.equal(faultOf(missing), -32601)
  const wrong = await rpc(app, callXml('system.methodHelp', int(1)))
  assert.equal(faultOf(wrong), -32602)
})

test('system.multicall answers [result] or a fault struct per entry, in order, and refuses nesting', async (t) => {
  const { app, calls } = await setup(t)
  const entry = (method: string, params: string) =>
    `<value><struct><member><name>methodName</name><value>${method}</value></member><member><name>params</name><value><array><data>${params}</data></array></value></member></struct></value>`
  const callEndStruct = structParam({ callId: '<string>c</string>', instanceId: '<string>i</string>', cause: '<string>x</string>', durationSec: '<int>5</int>', billSec: '<int>4</int>' })
    .replace('<param>', '').replace('</param>', '')
  const body = callXml('system.multicall', `<param><value><array><data>${[
    entry('add', '<value><int>1</int></value><value><int>2</int></value>'),
    entry('fail', ''),
    entry('nope', ''),
    entry('system.multicall', '<value><array><data></data></array></value>'),
    '<value><string>not a struct</string></value>',
    entry('call.end', callEndStruct),
    entry('add', '<value><string>1</string></value>'),
    entry('boom', ''),
  ].join('')}</data></array></value></param>`)
  calls.length = 0
  const r = await rpc(app, body)
  assert.ok(r.decoded?.ok, r.body)
  const out = plain(r.decoded.value) as unknown[]
  assert.equal(out.length, 8)
  assert.deepEqual(out[0], [3])
  assert.equal((out[1] as { faultCode: number }).faultCode, Faults.NOT_FOUND.code)
  assert.equal((out[2] as { faultCode: number }).faultCode, -32601)
  assert.deepEqual(out[3], { faultCode: -32600, faultString: 'invalid XML-RPC request: system.multicall may not be nested' })
  assert.equal((out[4] as { faultCode: number }).faultCode, -32600)
  assert.deepEqual(out[5], [{ ok: true }])
  assert.equal((out[6] as { faultCode: number }).faultCode, -32602)
  assert.deepEqual(out[7], { faultCode: -32603, faultString: 'internal error' })
  // onCall saw each dispatched entry and the multicall itself.
  assert.deepEqual(calls.map((c) => [c.method, c.faultCode]), [
    ['add', undefined], ['fail', 1401], ['(unknown)', -32601], ['call.end', undefined], ['add', -32602], ['boom', -32603], ['system.multicall', undefined],
  ])
})

test('system.multicall refuses more entries than maxMulticall', async (t) => {
  const { app } = await setup(t, { maxMulticall: 2 })
  const e = '<value><struct><member><name>methodName</name><value>add</value></member><member><name>params</name><value><array><data><value><int>1</int></value><value><int>1</int></value></data></array></value></member></struct></value>'
  const r = await rpc(app, callXml('system.multicall', `<param><value><array><data>${e}${e}${e}</data></array></value></param>`))
  assert.equal(faultOf(r), -32602)
  const ok = await rpc(app, callXml('system.multicall', `<param><value><array><data>${e}${e}</data></array></value></param>`))
  assert.deepEqual(ok.decoded, { ok: true, value: [[2], [2]] })
})

test('authenticate sets ctx.auth and refuses with its FaultError; its own crash is -32603', async (t) => {
  const { app, calls } = await setup(t, {
    authenticate: (request, method) => {
      const header = request.headers.authorization
      if (header === 'Bearer crash') throw new Error('database down')
      if (header !== 'Bearer good') throw new FaultError('UNAUTHORIZED')
      return { instanceId: `i-1 via ${method}` }
    },
  })
  const denied = await rpc(app, callXml('whoami'))
  assert.deepEqual(denied.decoded, { ok: false, fault: { faultCode: 1001, faultString: Faults.UNAUTHORIZED.text } })
  assert.deepEqual(calls.at(-1), { method: 'whoami', durationMs: calls.at(-1)!.durationMs, faultCode: 1001 })
  const allowed = await rpc(app, callXml('whoami'), { authorization: 'Bearer good' })
  assert.deepEqual(allowed.decoded, { ok: true, value: 'i-1 via whoami' })
  const crashed = await rpc(app, callXml('whoami'), { authorization: 'Bearer crash' })
  assert.deepEqual(crashed.decoded, { ok: false, fault: { faultCode: -32603, faultString: 'internal error' } })
})

test('the path is configurable and a throwing onCall hook does not break calls', async (t) => {
  const { app } = await setup(t, { path: '/xmlrpc', onCall: () => { throw new Error('metrics broke') } })
  const res = await app.inject({ method: 'POST', url: '/xmlrpc', headers: { 'content-type': 'text/xml' }, payload: GOOD })
  assert.equal(res.statusCode, 200)
  assert.match(res.body, /<int>5<\/int>/)
  const old = await app.inject({ method: 'POST', url: '/RPC2', headers: { 'content-type': 'text/xml' }, payload: GOOD })
  assert.equal(old.statusCode, 404)
})

test('the XML parsers stay inside the plugin: other routes keep JSON', async (t) => {
  const { app } = await buildApp()
  t.after(() => app.close())
  const Fastify = (await import('fastify')).default
  const outer = Fastify()
  t.after(() => outer.close())
  const { xmlrpcPlugin, createXmlRpcRegistry } = await import('../src/index.ts')
  await outer.register(xmlrpcPlugin, { registry: createXmlRpcRegistry() })
  outer.post('/json', async (req) => req.body)
  const json = await outer.inject({ method: 'POST', url: '/json', payload: { a: 1 } })
  assert.deepEqual(json.json(), { a: 1 })
  const xml = await outer.inject({ method: 'POST', url: '/json', headers: { 'content-type': 'text/xml' }, payload: '<a/>' })
  assert.equal(xml.statusCode, 415)
})
