import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, waitFor } from '@federate/testkit'
import { createFleet, type FleetOptions } from '../src/app.ts'
import { fakeAgent, q, steppingAgent, type AgiScript } from './helpers.ts'

const calm = { hangup: { rate: 0 }, machineRate: 0 }

async function fleetFor (t: TestContext, port: number, opts: Partial<FleetOptions> = {}) {
  const fleet = createFleet({ instances: 1, capacity: 5, agiTarget: { host: '127.0.0.1', port }, speed: 50, seed: 3, ...opts })
  await fleet.start()
  t.after(() => fleet.stop())
  return fleet
}

async function tmp (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fedsim-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

test('each AGI() sends the FastAGI environment block Asterisk sends, in its order', async (t) => {
  const envs: Array<Record<string, string>> = []
  const agent = await fakeAgent(async (s) => {
    envs.push(s.env)
    s.close()
  })
  t.after(() => agent.close())
  const fleet = await fleetFor(t, agent.port, { profile: calm })
  assert.equal(fleet.instances[0]!.placeInbound({ number: '+15557654321', callerId: '+15550001234' }), true)
  await waitFor(() => envs.length >= 1, { what: 'the first step' })
  const env = envs[0]!
  assert.deepEqual(Object.keys(env), [
    'agi_network', 'agi_network_script', 'agi_request', 'agi_channel', 'agi_language', 'agi_type', 'agi_uniqueid',
    'agi_version', 'agi_callerid', 'agi_calleridname', 'agi_callingpres', 'agi_callingani2', 'agi_callington',
    'agi_callingtns', 'agi_dnid', 'agi_rdnis', 'agi_context', 'agi_extension', 'agi_priority', 'agi_enhanced',
    'agi_accountcode', 'agi_threadid', 'agi_arg_1', 'agi_arg_2', 'agi_arg_3', 'agi_arg_4', 'agi_arg_5',
  ])
  assert.equal(env.agi_network, 'yes')
  assert.equal(env.agi_network_script, 'step')
  assert.equal(env.agi_request, `agi://127.0.0.1:${agent.port}/step`)
  assert.match(env.agi_channel!, /^PJSIP\/carrier-[0-9a-f]{8}$/)
  assert.equal(env.agi_type, 'PJSIP')
  assert.equal(env.agi_language, 'en')
  assert.match(env.agi_uniqueid!, /^\d+\.\d+$/)
  assert.match(env.agi_version!, /^\d+\.\d+\.\d+$/)
  assert.equal(env.agi_callerid, '+15550001234')
  assert.equal(env.agi_calleridname, 'unknown')
  assert.equal(env.agi_dnid, '+15557654321')
  assert.equal(env.agi_rdnis, 'unknown')
  assert.equal(env.agi_context, 'federate-loop')
  assert.equal(env.agi_enhanced, '0.0')
  assert.equal(env.agi_arg_1, 'start')
  assert.equal(env.agi_arg_2, '', 'an inbound call has no call id before its first step')
  // FED_ACTION was never set: the sorry path, and no /end (the tier never named the call).
  await waitFor(() => fleet.stats().ended.sorry === 1, { what: 'the sorry path' })
  assert.equal(envs.length, 1)
})

test('AGI commands are answered with res_agi\'s codes: 200 result=0/1, 510 and a 520 usage block', async (t) => {
  const answers: string[] = []
  const agent = await fakeAgent(async (s) => {
    if (s.env.agi_network_script !== 'step') return s.close()
    answers.push(await s.cmd('GET VARIABLE FED_STATE'))
    answers.push(await s.cmd(`SET VARIABLE FED_STATE ${q('tok "with" \\ quotes')}`))
    answers.push(await s.cmd('GET VARIABLE FED_STATE'))
    answers.push(await s.cmd('GET FULL VARIABLE $' + '{FED_STATE}-$' + '{CHANNEL}'))
    answers.push(await s.cmd('FROB THE CHANNEL'))
    answers.push(await s.cmd('GET VARIABLE'))
    answers.push(await s.cmd('ANSWER'))
    answers.push(await s.cmd('CHANNEL STATUS'))
    await s.cmd('SET VARIABLE FED_HANGUP_CAUSE 16')
    await s.cmd('SET VARIABLE FED_ACTION hangup')
    s.close()
  })
  t.after(() => agent.close())
  const fleet = await fleetFor(t, agent.port, { profile: calm })
  fleet.instances[0]!.placeInbound({ number: '100' })
  await waitFor(() => answers.length === 8, { what: 'the answers' })
  const channel = /PJSIP\/carrier-[0-9a-f]{8}/
  assert.equal(answers[0], '200 result=0')
  assert.equal(answers[1], '200 result=1')
  assert.equal(answers[2], '200 result=1 (tok "with" \\ quotes)')
  assert.match(answers[3]!, new RegExp(`^200 result=1 \\(tok "with" \\\\ quotes-${channel.source}\\)$`))
  assert.equal(answers[4], '510 Invalid or unknown command')
  assert.match(answers[5]!, /^520-Invalid command syntax\. {2}Proper usage follows:\n.*GET VARIABLE.*\n520 End of proper usage\.$/)
  assert.equal(answers[6], '200 result=0')
  assert.equal(answers[7], '200 result=6')
  await waitFor(() => fleet.stats().ended.hangup === 1, { what: 'the flow to hang up' })
})

test('a caller who hangs up mid-step gets HANGUP, 511 for live-channel commands, and the /end request on a dead channel', async (t) => {
  const seen: Record<string, string> = {}
  let endEnv: Record<string, string> | undefined
  const agent = await fakeAgent(async (s: AgiScript) => {
    if (s.env.agi_network_script === 'step') {
      await s.cmd(`SET VARIABLE FED_CALLID ${q('in-42')}`)
      // Hold the step (as if the tier were slow) until the caller gives up.
      await waitFor(() => s.hungUp(), { what: 'HANGUP', timeoutMs: 3000 })
      seen.answer = await s.cmd('ANSWER')
      seen.get = await s.cmd('GET VARIABLE FED_CALLID')
      seen.set = await s.cmd('SET VARIABLE FED_ACTION play')
      return s.close()
    }
    endEnv = s.env
    seen.endGet = await s.cmd('GET VARIABLE FED_CALLID')
    seen.endStream = await s.cmd('STREAM FILE beep ""')
    seen.endHungUp = String(s.hungUp())
    s.close()
  })
  t.after(() => agent.close())
  const fleet = await fleetFor(t, agent.port, {
    speed: 10,
    profile: { hangup: { rate: 1, after: { medianSec: 1, sigma: 0, maxSec: 1 } } },
  })
  fleet.instances[0]!.placeInbound({ number: '200' })
  await waitFor(() => endEnv && seen.endHungUp, { what: 'the /end request' })
  assert.equal(seen.answer, '511 Command Not Permitted on a dead channel or intercept routine')
  assert.equal(seen.get, '200 result=1 (in-42)')
  assert.equal(seen.set, '200 result=1')
  assert.equal(endEnv!.agi_network_script, 'end')
  assert.equal(endEnv!.agi_context, 'federate-hangup')
  assert.equal(endEnv!.agi_arg_1, 'in-42')
  assert.equal(endEnv!.agi_arg_2, '16')
  assert.match(endEnv!.agi_arg_3!, /^\d+$/)
  assert.equal(endEnv!.agi_arg_4, '0', 'never answered: no billable seconds')
  assert.equal(seen.endGet, '200 result=1 (in-42)')
  assert.equal(seen.endStream, '511 Command Not Permitted on a dead channel or intercept routine')
  assert.equal(seen.endHungUp, 'false', 'a channel that is dead from the start gets no HANGUP line')
  await waitFor(() => fleet.stats().ended.caller === 1, { what: 'the call to be counted' })
})

test('the loop performs each action and reports its outcome on the next step as the dialplan does', async (t) => {
  const recordings = await tmp(t)
  const plan: Array<Array<[string, string]>> = [
    [['FED_CALLID', 'loop-1'], ['FED_PROMPTS', '/snd/welcome&/snd/menu'], ['FED_PLAY_ESCAPE', ''], ['FED_ACTION', 'play']],
    [['FED_PROMPTS', '/snd/camp1/poll'], ['FED_GATHER_MAX', '1'], ['FED_GATHER_TIMEOUT', '5'], ['FED_ACTION', 'gather']],
    [['FED_REC_PATH', '/var/spool/asterisk/federate/recordings/msg-1'], ['FED_REC_FORMAT', 'wav'], ['FED_REC_SILENCE', '2'], ['FED_REC_MAX', '30'], ['FED_REC_OPTIONS', 'k'], ['FED_ACTION', 'record']],
    [['FED_WAIT_SEC', '1.5'], ['FED_ACTION', 'wait']],
    [['FED_AMD_INITIAL', '2500'], ['FED_AMD_GREETING', '1500'], ['FED_AMD_TOTAL', '5000'], ['FED_ACTION', 'amd']],
    [['FED_DIAL_TO', 'PJSIP/+15550009999@carrier'], ['FED_DIAL_TIMEOUT', '20'], ['FED_DIAL_CALLERID', ''], ['FED_ACTION', 'dial']],
    [['FED_HANGUP_CAUSE', '17'], ['FED_ACTION', 'hangup']],
  ]
  const agent = await steppingAgent((_args, n) => n === 1 ? plan[0]! : plan[n - 1] ?? null)
  t.after(() => agent.close())
  const fleet = await fleetFor(t, agent.port, {
    recordingsDir: recordings,
    profile: {
      ...calm,
      gather: { noInputRate: 0, byPrompt: { 'camp1/poll': { 2: 1 } } },
      dial: { outcomes: { ANSWER: 1, BUSY: 0, NOANSWER: 0, CONGESTION: 0, CHANUNAVAIL: 0 }, talk: { medianSec: 3, sigma: 0, maxSec: 3 } },
      amd: { accuracy: 1, notSureRate: 0 },
    },
  })
  fleet.instances[0]!.placeInbound({ number: '300' })
  await waitFor(() => agent.log.some((l) => l.script === 'end'), { what: 'the call to end', timeoutMs: 8000 })
  const steps = agent.log.filter((l) => l.script === 'step').map((l) => l.args)
  // R3 on start is FED_DIALED: the number the call arrived on.
  assert.deepEqual(steps[0], ['start', '', '', '', '300'])
  assert.deepEqual(steps[1], ['played', 'loop-1', '', '', ''])
  assert.deepEqual(steps[2], ['digits', 'loop-1', '2', 'OK', ''])
  assert.equal(steps[3]![0], 'recorded')
  assert.equal(steps[3]![2], join(recordings, 'msg-1'))
  assert.match(steps[3]![3]!, /^\d+$/)
  assert.equal(steps[3]![4], 'SILENCE')
  assert.deepEqual(steps[4], ['waited', 'loop-1', '', '', ''])
  assert.equal(steps[5]![0], 'amd')
  assert.equal(steps[5]![2], 'HUMAN')
  assert.match(steps[5]![3]!, /^HUMAN-\d+-\d+$/)
  assert.deepEqual(steps[6], ['dialed', 'loop-1', 'ANSWER', '3', ''])
  assert.equal(steps.length, 7)
  // The state token travels with the call: each step reads what the previous one set.
  assert.deepEqual(agent.log.filter((l) => l.script === 'step').map((l) => l.state), [undefined, 's1', 's2', 's3', 's4', 's5', 's6'])
  const end = agent.log.find((l) => l.script === 'end')!
  assert.equal(end.args[0], 'loop-1')
  assert.equal(end.args[1], '17')
  assert.equal(end.state, 's7')
  // A real WAV file: RIFF, PCM, mono, 8 kHz.
  const wav = await readFile(join(recordings, 'msg-1.wav'))
  assert.equal(wav.toString('ascii', 0, 4), 'RIFF')
  assert.equal(wav.toString('ascii', 8, 12), 'WAVE')
  assert.equal(wav.readUInt16LE(20), 1)
  assert.equal(wav.readUInt16LE(22), 1)
  assert.equal(wav.readUInt32LE(24), 8000)
  assert.equal(wav.readUInt32LE(40), wav.length - 44)
  assert.ok(wav.length > 44 + 16000, 'at least a second of audio')
  const st = fleet.stats()
  assert.equal(st.recordings, 1)
  assert.equal(st.dial.ANSWER, 1)
  assert.equal(st.amd.HUMAN, 1)
  assert.equal(st.steps, 7)
})

test('the sorry path plays and hangs up with cause 41 when a step sets no action or the agent is unreachable', async (t) => {
  const agent = await steppingAgent((_a, n) => n === 1 ? [['FED_CALLID', 'x-1']] : null)
  t.after(() => agent.close())
  const fleet = await fleetFor(t, agent.port, { profile: calm })
  fleet.instances[0]!.placeInbound({ number: '400' })
  await waitFor(() => agent.log.some((l) => l.script === 'end'), { what: '/end' })
  const end = agent.log.find((l) => l.script === 'end')!
  assert.deepEqual(end.args.slice(0, 2), ['x-1', '41'])
  assert.equal(fleet.stats().sorry, 1)

  const dead = await fleetFor(t, await freePort(), { profile: calm })
  dead.instances[0]!.placeInbound({ number: '400' })
  await waitFor(() => dead.stats().ended.sorry === 1, { what: 'the sorry path' })
  const st = dead.stats()
  assert.equal(st.agiErrors, 1)
  assert.equal(st.sorry, 1)
  assert.equal(st.active, 0)
})

test('prompts missing from the instance\'s sounds folder are counted', async (t) => {
  const sounds = await tmp(t)
  await writeFile(join(sounds, 'welcome.wav'), 'RIFF')
  const agent = await steppingAgent((_a, n) => n === 1
    ? [['FED_CALLID', 'p-1'], ['FED_PROMPTS', `${sounds}/welcome&${sounds}/nothere&beep`], ['FED_PLAY_ESCAPE', ''], ['FED_ACTION', 'play']]
    : [['FED_HANGUP_CAUSE', '16'], ['FED_ACTION', 'hangup']])
  t.after(() => agent.close())
  const fleet = await fleetFor(t, agent.port, { soundsDir: sounds, profile: calm })
  fleet.instances[0]!.placeInbound({ number: '500' })
  await waitFor(() => fleet.stats().ended.hangup === 1, { what: 'the call to end' })
  assert.equal(fleet.stats().missingPrompts, 1)
})

test('a runaway loop takes the sorry path once FED_STEPS passes FED_MAX_STEPS, without asking again', async (t) => {
  const agent = await steppingAgent((_a, n) => [...(n === 1 ? [['FED_CALLID', 'r-1']] as Array<[string, string]> : []), ['FED_WAIT_SEC', '0'], ['FED_ACTION', 'wait']])
  t.after(() => agent.close())
  const fleet = await fleetFor(t, agent.port, { profile: calm, instanceDefaults: { maxSteps: 3 } })
  fleet.instances[0]!.placeInbound({ number: '600' })
  await waitFor(() => agent.log.some((l) => l.script === 'end'), { what: '/end' })
  assert.equal(agent.log.filter((l) => l.script === 'step').length, 3)
  assert.deepEqual(agent.log.find((l) => l.script === 'end')!.args.slice(0, 2), ['r-1', '41'])
  assert.equal(fleet.stats().sorry, 1)
})
