import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import xmlrpc from 'xmlrpc'
import { results as resultsRepo, calls as callsRepo } from '@federate/db'
import { startTestServer, type TestServer } from '../../../test/helpers/server.ts'

const ivr = JSON.parse(await readFile(new URL('../../../examples/flows/ivr.json', import.meta.url), 'utf8'))
const poll = JSON.parse(await readFile(new URL('../../../examples/flows/poll.json', import.meta.url), 'utf8'))

async function publish (s: TestServer, id: string, definition: unknown, numbers: string[]): Promise<void> {
  const res = await fetch(`${s.url}/api/v1/flows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, definition, numbers }),
  })
  assert.equal(res.status, 201, await res.text())
}

/** A call through the `xmlrpc` npm package's own client: a client we did not write. */
function npmClient (s: TestServer, token: string) {
  const u = new URL(s.rpcUrl)
  const client = xmlrpc.createClient({ host: u.hostname, port: Number(u.port), path: '/RPC2', headers: { Authorization: `Bearer ${token}` } })
  return async (method: string, params: unknown): Promise<any> => await new Promise((resolve, reject) => {
    client.methodCall(method, [params], (err: unknown, value: unknown) => { if (err) reject(err); else resolve(value) })
  })
}

test('an inbound call runs the IVR flow step by step through the xmlrpc npm client, and its results are durable', async (t) => {
  const s = await startTestServer(t)
  await publish(s, 'ivr', ivr, ['15551230000'])
  const call = npmClient(s, await s.tokenFor('ast-1'))
  const base = { callId: 'ast-1.100.1', instanceId: 'ast-1' }

  let r = await call('call.step', { ...base, event: 'start', data: {}, channel: { extension: '15551230000', callerid: '+15550001111' } })
  assert.equal(r.action, 'play')
  assert.deepEqual(r.args.prompts, ['ivr/welcome'])
  assert.match(r.state, /^v1\./)

  r = await call('call.step', { ...base, state: r.state, event: 'played', data: {}, channel: {} })
  assert.equal(r.action, 'gather')
  assert.equal(r.args.maxDigits, 1)

  // An invalid choice re-prompts; then 2 goes to support (voicemail).
  r = await call('call.step', { ...base, state: r.state, event: 'digits', data: { digits: '9', status: 'ok' }, channel: {} })
  assert.equal(r.action, 'gather')
  assert.deepEqual(r.args.prompts, ['ivr/invalid', 'ivr/menu'])
  r = await call('call.step', { ...base, state: r.state, event: 'digits', data: { digits: '2', status: 'ok' }, channel: {} })
  assert.equal(r.action, 'play')
  assert.deepEqual(r.args.prompts, ['ivr/leave-message'])
  r = await call('call.step', { ...base, state: r.state, event: 'played', data: {}, channel: {} })
  assert.equal(r.action, 'record')
  r = await call('call.step', { ...base, state: r.state, event: 'recorded', data: { file: r.args.file, durationSec: 7 }, channel: {} })
  assert.equal(r.action, 'play')
  r = await call('call.step', { ...base, state: r.state, event: 'played', data: {}, channel: {} })
  assert.equal(r.action, 'hangup')
  assert.equal(r.args.cause, 16)

  // The answers were stored before the steps that produced them were answered.
  const stored = await resultsRepo.listForCall(s.deps.pool, base.callId)
  assert.ok(stored.some((x) => x.key === 'choice' && x.value === '2'), JSON.stringify(stored))
  assert.ok(stored.some((x) => x.node === 'voicemail'), JSON.stringify(stored))

  assert.deepEqual(await call('call.end', { ...base, state: r.state, cause: '16', durationSec: 42, billSec: 40 }), { ok: true })
  const row = await callsRepo.get(s.deps.pool, base.callId)
  assert.equal(row?.status, 'ended')
  assert.equal(row?.direction, 'inbound')
  assert.equal(row?.flowId, 'ivr')
  assert.equal(row?.durationSec, 42)
  // A resent call.end (the agent's spool) is acknowledged and changes nothing.
  assert.deepEqual(await call('call.end', { ...base, cause: '17', durationSec: 1, billSec: 0 }), { ok: true })
  assert.equal((await callsRepo.get(s.deps.pool, base.callId))?.cause, '16')
})

test('Python\'s standard xmlrpc.client runs the poll flow to its end and sees faults as Faults', async (t) => {
  const s = await startTestServer(t)
  await publish(s, 'poll', poll, ['2000'])
  const token = await s.tokenFor('py-1')
  const script = `
import json, sys, xmlrpc.client as x
class T(x.Transport):
    def send_headers(self, c, h):
        h.append(('Authorization', 'Bearer ${token}'))
        super().send_headers(c, h)
p = x.ServerProxy('${s.rpcUrl}', transport=T())
out = []
base = {'callId': 'py-1.1', 'instanceId': 'py-1'}
r = p.call.step(dict(base, event='start', data={}, channel={'extension': '2000', 'callerid': '100'}))
answers = {'amd': ('amd', {'status': 'HUMAN'}), 'play': ('played', {}), 'gather': ('digits', {'digits': '1', 'status': 'ok'}),
           'wait': ('waited', {}), 'record': ('recorded', {'file': 'x', 'durationSec': 1.5})}
while r['action'] not in ('hangup', 'goto') and len(out) < 30:
    out.append(r['action'])
    ev, data = answers[r['action']]
    r = p.call.step(dict(base, state=r['state'], event=ev, data=data, channel={}))
out.append(r['action'])
faults = []
for bad in [dict(base, event='start', data={}, channel={'extension': 'nowhere'}),
            dict(base, state='v1.x.y.z', event='played', data={}, channel={}),
            dict(base, event='digits', data={'digits': 5}, channel={}),
            dict(callId='py-1.2', instanceId='someone-else', event='start', data={}, channel={})]:
    try:
        p.call.step(bad)
    except x.Fault as f:
        faults.append(f.faultCode)
print(json.dumps({'actions': out, 'faults': faults, 'methods': p.system.listMethods()}))
`
  const { stdout } = await promisify(execFile)('python3', ['-c', script], { timeout: 20_000 })
  const got = JSON.parse(stdout)
  assert.equal(got.actions.at(-1), 'hangup')
  assert.ok(got.actions.includes('gather'), JSON.stringify(got.actions))
  assert.deepEqual(got.faults, [1201, 1101, -32602, 1002])
  for (const m of ['call.step', 'call.end', 'instance.heartbeat', 'dialer.next', 'storage.manifest', 'recording.upload', 'system.multicall']) {
    assert.ok(got.methods.includes(m), m)
  }
  const stored = await resultsRepo.listForCall(s.deps.pool, 'py-1.1')
  assert.ok(stored.some((x) => x.value === '1'), JSON.stringify(stored))
})
