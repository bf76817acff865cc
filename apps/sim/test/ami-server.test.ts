import { test } from 'node:test'
import assert from 'node:assert/strict'
import { waitFor } from '@federate/testkit'
import { createFleet, type FleetOptions } from '../src/app.ts'
import { amiClient, steppingAgent } from './helpers.ts'

const fast = { medianSec: 0.05, sigma: 0, maxSec: 1 }

async function setup (t: import('node:test').TestContext, opts: Partial<FleetOptions> = {}, action: Array<[string, string]> = [['FED_HANGUP_CAUSE', '16'], ['FED_ACTION', 'hangup']]) {
  const agent = await steppingAgent(() => action)
  const fleet = createFleet({
    instances: 1,
    capacity: 10,
    agiTarget: { host: '127.0.0.1', port: agent.port },
    speed: 10,
    seed: 7,
    amiUsers: { federate: 's3cret' },
    ...opts,
  })
  await fleet.start()
  t.after(async () => {
    await fleet.stop()
    await agent.close()
  })
  const port = fleet.instances[0]!.amiPort
  return { fleet, agent, port }
}

async function login (port: number) {
  const c = await amiClient(port)
  c.send([['Action', 'Login'], ['ActionID', 'l1'], ['Username', 'federate'], ['Secret', 's3cret'], ['Events', 'on']])
  const r = await c.next((m) => m.ActionID === 'l1')
  assert.equal(r.Response, 'Success')
  return c
}

test('the AMI server greets like Asterisk and accepts a good login with a FullyBooted event', async (t) => {
  const { port } = await setup(t)
  const c = await amiClient(port)
  t.after(() => c.close())
  assert.match(c.banner, /^Asterisk Call Manager\/\d+\.\d+\.\d+$/)
  c.send([['Action', 'Login'], ['ActionID', 'a1'], ['Username', 'federate'], ['Secret', 's3cret']])
  const r = await c.next((m) => m.ActionID === 'a1')
  assert.deepEqual(r, { Response: 'Success', ActionID: 'a1', Message: 'Authentication accepted' })
  const booted = await c.next((m) => m.Event === 'FullyBooted')
  assert.equal(booted.Status, 'Fully Booted')
})

test('a wrong secret is refused and the session is closed', async (t) => {
  const { port } = await setup(t)
  const c = await amiClient(port)
  t.after(() => c.close())
  c.send([['Action', 'Login'], ['ActionID', 'a2'], ['Username', 'federate'], ['Secret', 'nope']])
  const r = await c.next((m) => m.ActionID === 'a2')
  assert.equal(r.Response, 'Error')
  assert.equal(r.Message, 'Authentication failed')
  await waitFor(() => c.closed(), { what: 'the server to close the session' })
})

test('actions before login are denied, ping answers pong and an unknown action is an error', async (t) => {
  const { port } = await setup(t)
  const c = await amiClient(port)
  t.after(() => c.close())
  c.send([['Action', 'Ping'], ['ActionID', 'p0']])
  assert.deepEqual(await c.next((m) => m.ActionID === 'p0'), { Response: 'Error', ActionID: 'p0', Message: 'Permission denied' })
  c.send([['Action', 'Login'], ['ActionID', 'l'], ['Username', 'federate'], ['Secret', 's3cret']])
  await c.next((m) => m.ActionID === 'l')
  c.send([['Action', 'Ping'], ['ActionID', 'p1']])
  const pong = await c.next((m) => m.ActionID === 'p1')
  assert.equal(pong.Response, 'Success')
  assert.equal(pong.Ping, 'Pong')
  assert.match(pong.Timestamp!, /^\d+\.\d{6}$/)
  c.send([['Action', 'FlyToTheMoon'], ['ActionID', 'u1']])
  const unknown = await c.next((m) => m.ActionID === 'u1')
  assert.equal(unknown.Response, 'Error')
  assert.match(unknown.Message!, /^Invalid\/unknown command/)
  c.send([['Action', 'Logoff'], ['ActionID', 'bye']])
  assert.equal((await c.next((m) => m.ActionID === 'bye')).Response, 'Goodbye')
  await waitFor(() => c.closed(), { what: 'logoff to close the session' })
})

const outcomes: Array<[string, string, string]> = [
  ['answer', 'Success', '4'],
  ['busy', 'Failure', '5'],
  ['noanswer', 'Failure', '3'],
  ['congestion', 'Failure', '8'],
  ['unavailable', 'Failure', '0'],
]

for (const [outcome, response, reason] of outcomes) {
  test(`an async Originate that meets ${outcome} queues, then reports OriginateResponse ${response} with Reason ${reason}`, async (t) => {
    const only = { answer: 0, busy: 0, noanswer: 0, congestion: 0, unavailable: 0, [outcome]: 1 }
    const { port, agent } = await setup(t, { profile: { outcomes: only, ring: fast, hangup: { rate: 0 }, machineRate: 0 } })
    const c = await login(port)
    t.after(() => c.close())
    c.send([
      ['Action', 'Originate'], ['ActionID', `o-${outcome}`], ['Channel', 'PJSIP/+15551230000@carrier'],
      ['Context', 'federate-campaign'], ['Exten', 's'], ['Priority', '1'], ['Timeout', '3000'],
      ['CallerID', '"Campaign" <+15550001111>'], ['Async', 'true'],
      ['Variable', 'FED_CALLID=call-1'], ['Variable', 'FED_CAMPAIGN=camp-9'], ['Variable', 'FED_FLOWREF=flow@3'],
    ])
    const queued = await c.next((m) => m.ActionID === `o-${outcome}` && 'Response' in m && !('Event' in m))
    assert.deepEqual(queued, { Response: 'Success', ActionID: `o-${outcome}`, Message: 'Originate successfully queued' })
    const ev = await c.next((m) => m.Event === 'OriginateResponse')
    assert.equal(ev.ActionID, `o-${outcome}`)
    assert.equal(ev.Response, response)
    assert.equal(ev.Reason, reason)
    assert.equal(ev.Context, 'federate-campaign')
    assert.equal(ev.Exten, 's')
    if (response === 'Success') {
      assert.match(ev.Channel!, /^PJSIP\/carrier-[0-9a-f]{8}$/)
      assert.match(ev.Uniqueid!, /^\d+\.\d+$/)
      assert.equal(ev.CallerIDNum, '+15550001111')
      assert.equal(ev.CallerIDName, 'Campaign')
      // The answered call enters the loop: the first step carries the Originate's variables.
      await waitFor(() => agent.log.some((l) => l.script === 'end'), { what: 'the call to end' })
      const first = agent.log[0]!
      assert.deepEqual(first.args, ['start', 'call-1', 'camp-9', 'flow@3', ''])
      assert.equal(first.env.agi_channel, ev.Channel)
      assert.equal(first.env.agi_uniqueid, ev.Uniqueid)
      const end = agent.log.find((l) => l.script === 'end')!
      assert.equal(end.args[0], 'call-1')
      assert.equal(end.args[1], '16')
    } else {
      assert.equal(ev.Channel, 'PJSIP/+15551230000@carrier')
      assert.equal(ev.Uniqueid, '<null>')
      assert.equal(agent.log.length, 0)
    }
  })
}

test('a synchronous Originate answers Success once answered and Error when the call fails', async (t) => {
  const { port } = await setup(t, { profile: { outcomes: { answer: 1, busy: 1, noanswer: 0, congestion: 0, unavailable: 0 }, ring: fast } })
  const c = await login(port)
  t.after(() => c.close())
  const seen = new Set<string>()
  for (let i = 0; i < 12 && seen.size < 2; i++) {
    c.send([['Action', 'Originate'], ['ActionID', `s${i}`], ['Channel', 'PJSIP/100@carrier'], ['Context', 'federate-campaign'], ['Exten', 's'], ['Priority', '1']])
    const r = await c.next((m) => m.ActionID === `s${i}`)
    seen.add(`${r.Response}:${r.Message}`)
  }
  assert.deepEqual([...seen].sort(), ['Error:Originate failed', 'Success:Originate successfully queued'])
})

test('Originate with bad arguments or beyond capacity fails like Asterisk', async (t) => {
  const { port } = await setup(t, { capacity: 1, profile: { outcomes: { answer: 0, busy: 0, noanswer: 1, congestion: 0, unavailable: 0 } } })
  const c = await login(port)
  t.after(() => c.close())
  c.send([['Action', 'Originate'], ['ActionID', 'b1'], ['Context', 'x'], ['Exten', 's']])
  assert.deepEqual(await c.next((m) => m.ActionID === 'b1'), { Response: 'Error', ActionID: 'b1', Message: 'Channel not specified' })
  c.send([['Action', 'Originate'], ['ActionID', 'b2'], ['Channel', 'PJSIP/1@c'], ['Context', 'x'], ['Exten', 's'], ['Timeout', 'soon']])
  assert.equal((await c.next((m) => m.ActionID === 'b2')).Message, 'Invalid timeout')
  // One call rings (no answer within 5 s) and holds the only channel; the next is refused.
  c.send([['Action', 'Originate'], ['ActionID', 'c1'], ['Channel', 'PJSIP/1@c'], ['Context', 'federate-campaign'], ['Exten', 's'], ['Timeout', '50000'], ['Async', 'yes']])
  await c.next((m) => m.ActionID === 'c1' && m.Response === 'Success' && !m.Event)
  c.send([['Action', 'Originate'], ['ActionID', 'c2'], ['Channel', 'PJSIP/2@c'], ['Context', 'federate-campaign'], ['Exten', 's'], ['Async', 'yes']])
  const ev = await c.next((m) => m.Event === 'OriginateResponse' && m.ActionID === 'c2')
  assert.equal(ev.Response, 'Failure')
  assert.equal(ev.Reason, '0')
})

test('CoreShowChannels lists every channel, and a dialled leg shares the caller\'s Linkedid', async (t) => {
  const dial: Array<[string, string]> = [['FED_DIAL_TO', 'PJSIP/+15559990000@carrier'], ['FED_DIAL_TIMEOUT', '30'], ['FED_DIAL_CALLERID', ''], ['FED_ACTION', 'dial']]
  const { port, fleet } = await setup(t, {
    speed: 1,
    profile: {
      outcomes: { answer: 1, busy: 0, noanswer: 0, congestion: 0, unavailable: 0 },
      ring: fast,
      hangup: { rate: 0 },
      machineRate: 0,
      dial: { outcomes: { ANSWER: 1, BUSY: 0, NOANSWER: 0, CONGESTION: 0, CHANUNAVAIL: 0 }, ring: fast, talk: { medianSec: 600, sigma: 0, maxSec: 600 } },
    },
  }, dial)
  const c = await login(port)
  t.after(() => c.close())
  c.send([['Action', 'Originate'], ['ActionID', 'd1'], ['Channel', 'PJSIP/+15551112222@carrier'], ['Context', 'federate-campaign'], ['Exten', 's'], ['Async', '1'], ['Variable', 'FED_CALLID=c-1']])
  const ev = await c.next((m) => m.Event === 'OriginateResponse')
  await waitFor(() => fleet.instances[0]!.calls()[0]?.channel.bridgeId, { what: 'the dialled party to answer' })
  c.send([['Action', 'CoreShowChannels'], ['ActionID', 'list1']])
  const head = await c.next((m) => m.ActionID === 'list1' && m.Response !== undefined)
  assert.equal(head.Response, 'Success')
  assert.equal(head.EventList, 'start')
  const done = await c.next((m) => m.Event === 'CoreShowChannelsComplete' && m.ActionID === 'list1')
  assert.equal(done.EventList, 'Complete')
  assert.equal(done.ListItems, '2')
  const rows = c.messages.filter((m) => m.Event === 'CoreShowChannel' && m.ActionID === 'list1')
  assert.equal(rows.length, 2)
  const caller = rows.find((r) => r.Uniqueid === ev.Uniqueid)!
  const callee = rows.find((r) => r.Uniqueid !== ev.Uniqueid)!
  assert.equal(caller.Channel, ev.Channel)
  assert.equal(caller.Linkedid, ev.Uniqueid)
  assert.equal(callee.Linkedid, ev.Uniqueid, 'both legs of a bridged call share one Linkedid')
  assert.equal(caller.Application, 'Dial')
  assert.equal(caller.ApplicationData, 'PJSIP/+15559990000@carrier,30,g')
  assert.match(caller.Duration!, /^\d\d:\d\d:\d\d$/)
  assert.equal(caller.ChannelStateDesc, 'Up')
  assert.equal(caller.BridgeId, callee.BridgeId)
  for (const key of ['Context', 'Exten', 'Priority', 'CallerIDNum', 'ConnectedLineNum', 'Language', 'AccountCode']) assert.ok(key in caller, key)
})
