import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import http from 'node:http'
import { promisify } from 'node:util'
import Type from 'typebox'
import xmlrpc from 'xmlrpc'
import { buildApp, plain } from './helpers.ts'

// A zone far from UTC: anything that reads or writes dateTime as local time shows up here.
process.env.TZ = 'Asia/Kolkata'

const run = promisify(execFile)

async function listen (t: { after: (fn: () => Promise<void>) => void }) {
  const built = await buildApp({}, (registry) => {
    registry.register('date.iso', {
      positional: true,
      params: Type.Tuple([Type.Unsafe<Date>({})]),
      result: Type.String(),
      handler: ([d]) => (d instanceof Date ? d.toISOString() : 'not a date'),
    })
  })
  t.after(() => built.app.close())
  await built.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = built.app.server.address() as { port: number }
  return { ...built, port }
}

function npmCall (client: xmlrpc.Client, method: string, params: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    client.methodCall(method, params, (err, value) => (err ? reject(err) : resolve(value)))
  })
}

test('the xmlrpc package\'s own client round-trips every type and gets faults', async (t) => {
  const { port } = await listen(t)
  const client = xmlrpc.createClient({ host: '127.0.0.1', port, path: '/RPC2' })
  const values: Record<string, unknown> = {
    int: 2147483647,
    negative: -2147483648,
    true: true,
    false: false,
    string: 'héllo <&> ]]> 😀',
    empty: '',
    double: 1.5,
    dateTime: new Date('2024-02-29T13:14:15Z'),
    base64: Buffer.from([0, 1, 254, 255]),
    struct: { a: 1, b: [1, 'x', { c: false }] },
    array: [1, 'two', 3.5, null],
    nil: null,
  }
  for (const [name, value] of Object.entries(values)) {
    assert.deepEqual(plain(await npmCall(client, 'echo', [value])), value, name)
  }
  assert.equal(await npmCall(client, 'add', [2, 3]), 5)
  assert.equal(await npmCall(client, 'date.iso', [new Date('2024-02-29T13:14:15Z')]), '2024-02-29T13:14:15.000Z')
  await assert.rejects(npmCall(client, 'fail', []), (err: { faultCode?: number, faultString?: string }) => {
    assert.equal(err.faultCode, 1401)
    assert.equal(err.faultString, 'unknown id: no such thing')
    return true
  })
  await assert.rejects(npmCall(client, 'add', ['2', 3]), { faultCode: -32602 })
})

const PYTHON = String.raw`
import sys, json, datetime, xmlrpc.client as x
p = x.ServerProxy(sys.argv[1], allow_none=True, use_builtin_types=True)
cases = {
  'int': 42, 'min': -2147483648, 'max': 2147483647, 'true': True, 'false': False,
  'string': 'h\u00e9llo <&> ]]> \U0001F600', 'empty': '', 'double': 1.5, 'negdouble': -0.25,
  'datetime': datetime.datetime(2024, 2, 29, 13, 14, 15),
  'base64': b'\x00\x01\xfe\xff',
  'struct': {'a': 1, 'b': [1, 'x', {'c': False}]},
  'array': [1, 'two', 3.5, None],
  'nil': None,
}
out = {}
for k, v in cases.items():
  r = p.echo(v)
  out[k] = True if (r == v and type(r) == type(v)) else repr(r)
out['add'] = p.add(2, 3)
out['date.iso'] = p.date.iso(datetime.datetime(2024, 2, 29, 13, 14, 15))
try:
  p.fail()
  out['fault'] = 'no fault'
except x.Fault as e:
  out['fault'] = [e.faultCode, e.faultString]
try:
  p.add('2', 3)
except x.Fault as e:
  out['badParams'] = e.faultCode
out['proto'] = p.prototypes({'__proto__': {'polluted': True}})
out['methods'] = p.system.listMethods()
out['help'] = p.system.methodHelp('call.end')
m = x.MultiCall(p)
m.add(1, 2)
m.fail()
m.echo('z')
multi = m()
got = []
for i in range(3):
  try:
    got.append(multi[i])
  except x.Fault as e:
    got.append({'fault': e.faultCode})
out['multicall'] = got
print(json.dumps(out))
`

test('Python\'s xmlrpc.client round-trips every type, faults, system.* and MultiCall', async (t) => {
  const { port } = await listen(t)
  const { stdout } = await run('python3', ['-c', PYTHON, `http://127.0.0.1:${port}/RPC2`], { timeout: 20_000 })
  const out = JSON.parse(stdout)
  for (const k of ['int', 'min', 'max', 'true', 'false', 'string', 'empty', 'double', 'negdouble', 'datetime', 'base64', 'struct', 'array', 'nil']) {
    assert.equal(out[k], true, `${k}: ${out[k]}`)
  }
  assert.equal(out.add, 5)
  assert.equal(out['date.iso'], '2024-02-29T13:14:15.000Z', 'a Python datetime is read as UTC whatever TZ says')
  assert.deepEqual(out.fault, [1401, 'unknown id: no such thing'])
  assert.equal(out.badParams, -32602)
  assert.deepEqual(out.proto, { nullPrototype: true, ownProto: true, polluted: false })
  assert.ok(out.methods.includes('system.multicall'))
  assert.match(out.help, /call ended/)
  assert.deepEqual(out.multicall, [3, { fault: 1401 }, 'z'])
})

test('a 10 MB body over a real socket gets HTTP 413 quickly and the server keeps serving', async (t) => {
  const { port } = await listen(t)
  const started = performance.now()
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/RPC2', method: 'POST', headers: { 'content-type': 'text/xml', 'content-length': String(10 * 1024 * 1024) } })
    req.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', reject)
    req.write(Buffer.alloc(64 * 1024, 0x20)) // the rest never comes: the answer must not wait for it
  })
  assert.equal(status, 413)
  assert.ok(performance.now() - started < 1000)
  const client = xmlrpc.createClient({ host: '127.0.0.1', port, path: '/RPC2' })
  assert.equal(await npmCall(client, 'add', [20, 22]), 42)
})
