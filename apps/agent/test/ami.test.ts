import { test } from 'node:test'
import assert from 'node:assert/strict'
import pino from 'pino'
import { waitFor } from '@federate/testkit'
import { AmiClient, AmiParser, formatAction } from '../src/app.ts'
import { startFakeAmi, type FakeAmiOptions } from './helpers.ts'

const logger = pino({ level: 'silent' })

async function setup (t: import('node:test').TestContext, opts: FakeAmiOptions = {}, secret = 'pw') {
  const ami = await startFakeAmi(opts)
  t.after(() => ami.close())
  const client = new AmiClient({ host: '127.0.0.1', port: ami.port, username: 'federate', secret, actionTimeoutMs: 500, logger, minBackoffMs: 20, maxBackoffMs: 100 })
  t.after(() => client.close())
  client.start()
  return { ami, client }
}

const originate = (callId: string) => ({ channel: `PJSIP/${callId}@carrier`, channelId: callId, context: 'federate-campaign', exten: 's', priority: 1, timeoutMs: 20_000, callerId: '+15550000000', variables: { FED_CALLID: callId, FED_VAR_x: 'a b' } })

test('the parser reads the banner, CRLF or LF messages split anywhere, and repeated keys', () => {
  const p = new AmiParser()
  const text = 'Asterisk Call Manager/7.0.3\r\nResponse: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\nEvent: X\nChanVariable: a=1\nChanVariable: b=2\nEmpty:\n\n'
  const out = []
  for (const ch of text) out.push(...p.push(ch))
  assert.equal(p.banner, 'Asterisk Call Manager/7.0.3')
  assert.equal(out.length, 2)
  assert.equal(out[0]!.get('response'), 'Success')
  assert.equal(out[1]!.get('ChanVariable'), 'a=1')
  assert.deepEqual(out[1]!.lines.filter(([k]) => k === 'ChanVariable').map(([, v]) => v), ['a=1', 'b=2'])
  assert.equal(out[1]!.get('Empty'), '')
  assert.equal(formatAction({ Action: 'Originate', Variable: ['A=1', 'B=2'], Skip: undefined }), 'Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n')
  assert.throws(() => formatAction({ Action: 'Ping\r\nAction: Logoff' }), /line break/)
})

test('login succeeds with the right secret and is refused with a wrong one', async (t) => {
  const { client, ami } = await setup(t)
  await client.ready(2000)
  assert.equal(client.connected, true)
  assert.equal(ami.actions[0]!.Action, 'Login')
  assert.equal(ami.actions[0]!.Events, 'on')
  const pong = await client.action({ Action: 'Ping' })
  assert.equal(pong.get('Ping'), 'Pong')

  const bad = await setup(t, {}, 'wrong')
  await assert.rejects(bad.client.ready(300), /login refused: Authentication failed/)
  assert.equal(bad.client.connected, false)
  await assert.rejects(bad.client.action({ Action: 'Ping' }), { code: 'FED_AGENT_AMI' })
})

test('async originates are matched to their OriginateResponse by ActionID, whatever the order', async (t) => {
  const { client, ami } = await setup(t, {
    originate: (f) => f.ChannelId === 'slow'
      ? { response: 'Success', reason: 4, delayMs: 80 }
      : { response: 'Failure', reason: 5, delayMs: 5 },
  })
  await client.ready(2000)
  const [slow, busy] = await Promise.all([client.originate(originate('slow')), client.originate(originate('busy'))])
  assert.deepEqual(slow, { response: 'Success', reason: 4, uniqueid: 'slow', channel: 'PJSIP/slow@carrier' })
  assert.equal(busy.response, 'Failure')
  assert.equal(busy.reason, 5)
  const sent = ami.originates[0]!
  assert.equal(sent.fields.Async, 'true')
  assert.equal(sent.fields.Context, 'federate-campaign')
  assert.equal(sent.fields.Timeout, '20000')
  assert.deepEqual(sent.variables, ['FED_CALLID=slow', 'FED_VAR_x=a b'])
})

test('CoreShowChannels counts calls by Linkedid', async (t) => {
  const { client } = await setup(t, {
    channels: () => [
      { Channel: 'PJSIP/a-1', Uniqueid: '1.1', Linkedid: '1.1' },
      { Channel: 'PJSIP/b-2', Uniqueid: '1.2', Linkedid: '1.1' },
      { Channel: 'PJSIP/c-3', Uniqueid: 'call-9', Linkedid: 'call-9' },
    ],
  })
  await client.ready(2000)
  const snap = await client.coreShowChannels()
  assert.equal(snap.channels.length, 3)
  assert.deepEqual([...snap.linkedIds].sort(), ['1.1', 'call-9'])
})

test('the client reconnects and logs in again after the server drops the connection', async (t) => {
  const { client, ami } = await setup(t)
  await client.ready(2000)
  let drops = 0
  client.on('disconnect', () => { drops++ })
  ami.drop()
  await waitFor(() => ami.logins === 2 && client.connected, { what: 'a second login' })
  assert.equal(drops, 1)
  assert.equal((await client.action({ Action: 'Ping' })).get('Response'), 'Success')
})

test('actions sent while AMI is down fail at once', async (t) => {
  const { client, ami } = await setup(t)
  await client.ready(2000)
  await ami.close()
  await waitFor(() => !client.connected, { what: 'the loss to be seen' })
  await assert.rejects(client.action({ Action: 'Ping' }), /not connected/)
  await assert.rejects(client.originate(originate('x')), /not connected/)
})

test('an action without an answer times out, and a lost connection fails the originates in flight', async (t) => {
  const { client, ami } = await setup(t, { originate: () => ({ response: 'Success', reason: 4, delayMs: 10_000 }) })
  await client.ready(2000)
  assert.equal((await client.action({ Action: 'NoSuchThing' })).get('Response'), 'Error')
  await assert.rejects(client.action({ Action: 'Silence' }, { timeoutMs: 50 }), /no answer within 50 ms/)
  const pending = client.originate(originate('lost'))
  await waitFor(() => ami.originates.length === 1, { what: 'the originate to be sent' })
  ami.drop()
  await assert.rejects(pending, /connection lost/)
})
