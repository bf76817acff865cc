import { test } from 'node:test'
import assert from 'node:assert/strict'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { waitFor } from '@federate/testkit'
import { startTestServer } from '../helpers/server.ts'
import { callRows, exampleFlow, publishFlow, resultsByCall, startSim, type E2eSim } from '../helpers/e2e.ts'

// Inbound calls through the example IVR and poll flows (and a small flow of our own for wait,
// set, condition and goto), end to end: a real app server, a real agent per simulated
// Asterisk instance, the dialplan loop run by the simulator. Each scenario is one simulated
// instance whose callers behave one way (a seeded profile with no choice left to chance where
// the expected result depends on it), so every branch is taken and the database must hold
// exactly what those callers did.

const IVR = '+15550100'
const POLL = '+15550200'
const EXTRAS = '+15550300'

/** A flow for the node types the examples do not use: set, condition, wait, goto. */
/* eslint-disable no-template-curly-in-string -- ${name} here is a flow template, not JavaScript */
const extras = {
  format: 'federate.flow/1',
  name: 'Hold and transfer',
  start: 'tag',
  nodes: {
    tag: { type: 'set', vars: { greeting: 'hi-${callerid}' }, next: 'route' },
    // Routing by the dialled number: the agent sends the number as channel.extension.
    route: {
      type: 'condition',
      when: [{ var: 'extension', op: 'eq', value: EXTRAS, next: 'check' }],
      else: 'wrong',
    },
    check: { type: 'condition', when: [{ var: 'greeting', op: 'matches', value: '^hi-\\+1555[0-9]{7}$', next: 'hold' }], else: 'wrong' },
    hold: { type: 'wait', seconds: 2, next: 'notice' },
    notice: { type: 'play', prompts: ['extras/notice'], next: 'transfer' },
    transfer: { type: 'goto', context: 'from-federate', extension: '${extension}' },
    wrong: { type: 'hangup', cause: 21 },
  },
}
/* eslint-enable no-template-curly-in-string */

const none = { ANSWER: 0, BUSY: 0, NOANSWER: 0, CONGESTION: 0, CHANUNAVAIL: 0 }

/** Callers who never hang up early, decide fast, and whose dialled parties talk briefly. */
function profile (over: {
  byPrompt?: Record<string, Record<string, number>>
  noInputRate?: number
  interruptRate?: number
  dial?: Partial<typeof none>
  amd?: { accuracy?: number, notSureRate?: number }
} = {}): Record<string, unknown> {
  return {
    hangup: { rate: 0 },
    play: { promptSec: 2, interruptRate: over.interruptRate ?? 0 },
    gather: { noInputRate: over.noInputRate ?? 0, think: { medianSec: 1, sigma: 0 }, byPrompt: over.byPrompt ?? {} },
    dial: { outcomes: { ...none, ANSWER: 1, ...over.dial }, ring: { medianSec: 2, sigma: 0 }, talk: { medianSec: 3, sigma: 0 } },
    record: { speak: { medianSec: 2, sigma: 0 } },
    amd: { analysisSec: 1, accuracy: 1, notSureRate: 0, ...over.amd },
  }
}

type Results = Record<string, string>

interface Scenario {
  name: string
  number: string
  calls: number
  profile: Record<string, unknown>
  /** Actions every call performs (omitted where callers differ). */
  actions?: Record<string, number>
  /** How each call's results must look (throws when they do not). */
  check: (r: Results) => void
  /** After all calls: what the scenario as a whole must have covered. */
  covers?: (all: Results[]) => void
  /** How the simulator saw the calls end (default: every call by the flow's hangup). */
  ended?: string
}

const is = (expected: Results) => (r: Results) => {
  const { voicemail, ...rest } = r
  const { voicemail: wantVoicemail, ...want } = expected
  assert.deepEqual(rest, want)
  if (wantVoicemail !== undefined) assert.match(voicemail ?? '', /^voicemail-/)
  else assert.equal(voicemail, undefined)
}
const VM = 'yes'

const scenarios: Scenario[] = [
  {
    name: 'ivr: 1 at the menu, sales answers',
    number: IVR,
    calls: 3,
    profile: profile({ byPrompt: { 'ivr/menu': { 1: 1 } } }),
    actions: { play: 1, gather: 1, dial: 1, hangup: 1 },
    check: is({ choice: '1', sales_dial: 'ANSWER' }),
  },
  {
    name: 'ivr: 1 at the menu, sales does not answer, voicemail',
    number: IVR,
    calls: 6,
    profile: profile({ byPrompt: { 'ivr/menu': { 1: 1 } }, dial: { ANSWER: 0, BUSY: 1, NOANSWER: 1, CONGESTION: 1, CHANUNAVAIL: 1 } }),
    actions: { play: 4, gather: 1, dial: 1, record: 1, hangup: 1 },
    check: (r) => {
      assert.ok(['BUSY', 'NOANSWER', 'CONGESTION', 'CHANUNAVAIL'].includes(r.sales_dial!), r.sales_dial)
      is({ choice: '1', sales_dial: r.sales_dial!, voicemail: VM })(r)
    },
    covers: (all) => assert.ok(new Set(all.map((r) => r.sales_dial)).size >= 2, 'several non-answer outcomes'),
  },
  {
    name: 'ivr: 2 at the menu, voicemail',
    number: IVR,
    calls: 2,
    profile: profile({ byPrompt: { 'ivr/menu': { 2: 1 } } }),
    actions: { play: 3, gather: 1, record: 1, hangup: 1 },
    check: is({ choice: '2', voicemail: VM }),
  },
  {
    name: 'ivr: 3 at the menu hears the hours and comes back to the menu',
    number: IVR,
    calls: 4,
    profile: profile({ byPrompt: { 'ivr/menu': { 3: 1, 2: 1 } } }),
    // The first accepted choice is the one stored (a result is written once per call and key).
    check: (r) => is({ choice: r.choice === '3' ? '3' : '2', voicemail: VM })(r),
    covers: (all) => assert.ok(all.some((r) => r.choice === '3'), 'a caller chose the hours'),
  },
  {
    name: 'ivr: no input three times, goodbye',
    number: IVR,
    calls: 2,
    profile: profile({ noInputRate: 1 }),
    actions: { play: 2, gather: 3, hangup: 1 },
    check: is({}),
  },
  {
    name: 'ivr: invalid input three times, goodbye',
    number: IVR,
    calls: 2,
    profile: profile({ byPrompt: { 'ivr/menu': { 9: 1 }, 'ivr/invalid': { 8: 1 } } }),
    actions: { play: 2, gather: 3, hangup: 1 },
    check: is({}),
  },
  {
    name: 'ivr: invalid input, then 1 after the re-prompt',
    number: IVR,
    calls: 2,
    profile: profile({ byPrompt: { 'ivr/menu': { 9: 1 }, 'ivr/invalid': { 1: 1 } } }),
    actions: { play: 1, gather: 2, dial: 1, hangup: 1 },
    check: is({ choice: '1', sales_dial: 'ANSWER' }),
  },
  {
    name: 'ivr: callers press a key during the interruptible welcome',
    number: IVR,
    calls: 12,
    profile: profile({ interruptRate: 1, byPrompt: { 'ivr/menu': { 2: 1 } } }),
    check: (r) => {
      // 1 goes straight to sales, 2 straight to voicemail; 3 (hours) or any other key to the menu.
      if (r.sales_dial !== undefined) is({ sales_dial: 'ANSWER' })(r)
      else if (r.choice === undefined) is({ voicemail: VM })(r)
      else is({ choice: '2', voicemail: VM })(r)
    },
    covers: (all) => {
      assert.ok(all.some((r) => r.sales_dial !== undefined), 'a caller pressed 1 during the welcome')
      assert.ok(all.some((r) => r.choice === undefined && r.voicemail !== undefined), 'a caller pressed 2 during the welcome')
      assert.ok(all.some((r) => r.choice === '2'), 'a caller went on to the menu')
    },
  },
  {
    name: 'poll: an answering machine gets the short message',
    number: POLL,
    calls: 2,
    profile: profile({ amd: { accuracy: 0 } }),
    actions: { amd: 1, play: 1, hangup: 1 },
    check: is({ detect: 'MACHINE' }),
  },
  {
    name: 'poll: a person votes 1',
    number: POLL,
    calls: 3,
    profile: profile({ byPrompt: { 'poll/question': { 1: 1 } } }),
    actions: { amd: 1, gather: 1, play: 1, hangup: 1 },
    check: is({ detect: 'HUMAN', vote: '1' }),
  },
  {
    name: 'poll: AMD is not sure, the caller presses 7, then 2 after the re-prompt',
    number: POLL,
    calls: 2,
    profile: profile({ amd: { notSureRate: 1 }, byPrompt: { 'poll/question': { 7: 1 }, 'poll/invalid': { 2: 1 } } }),
    actions: { amd: 1, gather: 2, play: 1, hangup: 1 },
    check: is({ detect: 'NOTSURE', vote: '2' }),
  },
  {
    name: 'poll: no input three times, goodbye',
    number: POLL,
    calls: 2,
    profile: profile({ noInputRate: 1 }),
    actions: { amd: 1, gather: 3, play: 1, hangup: 1 },
    check: is({ detect: 'HUMAN' }),
  },
  {
    name: 'poll: invalid input three times, goodbye',
    number: POLL,
    calls: 2,
    profile: profile({ byPrompt: { 'poll/question': { 7: 1 }, 'poll/invalid': { 9: 1 } } }),
    actions: { amd: 1, gather: 3, play: 1, hangup: 1 },
    check: is({ detect: 'HUMAN' }),
  },
  {
    name: 'extras: set, condition on the dialled number, wait, play, goto',
    number: EXTRAS,
    calls: 2,
    profile: profile(),
    actions: { wait: 1, play: 1, goto: 1 },
    check: is({}),
    ended: 'goto',
  },
]

async function isWav (path: string): Promise<boolean> {
  const f = await open(path)
  try {
    const head = Buffer.alloc(44)
    const { bytesRead } = await f.read(head, 0, 44, 0)
    return bytesRead === 44 && head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WAVE' && (await f.stat()).size > 44
  } finally {
    await f.close()
  }
}

test('inbound calls take every branch of the example IVR and poll flows, and the database holds what each caller did', { timeout: 90_000 }, async (t) => {
  const server = await startTestServer(t, { FEDERATE_STORAGE: 'false' })
  const ivr = await publishFlow(server, 'ivr', await exampleFlow('ivr'), [IVR])
  const poll = await publishFlow(server, 'poll', await exampleFlow('poll'), [POLL])
  await publishFlow(server, 'extras', extras, [EXTRAS])
  const flowOf: Record<string, string> = { [IVR]: 'ivr', [POLL]: 'poll', [EXTRAS]: 'extras' }
  assert.equal(ivr.version, 1)
  assert.equal(poll.version, 1)

  // One simulated instance (and agent) per scenario, all running at once.
  const tStart = performance.now()
  const sims: E2eSim[] = []
  for (const [i, s] of scenarios.entries()) {
    sims.push(await startSim(t, {
      prefix: `in${i}`,
      tokenFor: server.tokenFor,
      instances: 1,
      capacity: 20,
      speed: 40,
      seed: 1000 + i,
      servers: [server.rpcUrl],
      profile: s.profile,
      agentSettings: { heartbeatMs: 5000, dialerIntervalMs: 5000 },
    }))
  }
  const t0 = performance.now()
  t.diagnostic(`sims started in ${Math.round(t0 - tStart)} ms`)
  // Every call is placed at once, so each draws from its own seeded stream whatever the timing.
  scenarios.forEach((s, i) => { assert.equal(sims[i]!.place(s.calls, s.number), s.calls, s.name) })
  const total = scenarios.reduce((n, s) => n + s.calls, 0)
  const ended = (): number => sims.reduce((n, x) => n + Object.values(x.stats().ended).reduce((a, b) => a + b, 0), 0)
  await waitFor(() => ended() === total, { timeoutMs: 60_000, intervalMs: 50, what: `${total} calls to end in the simulator` })
  const t1 = performance.now()
  const ids = sims.flatMap((x) => x.ids)
  await waitFor(async () => (await callRows(server.deps.pool, ids)).filter((c) => c.status === 'ended').length === total,
    { timeoutMs: 15_000, intervalMs: 50, what: 'every call ended in the database' })

  const rows = await callRows(server.deps.pool, ids)
  const results = await resultsByCall(server.deps.pool, rows.map((r) => r.call_id))
  for (const [i, s] of scenarios.entries()) {
    const sim = sims[i]!
    const st = sim.stats()
    await t.test(s.name, async () => {
      assert.equal(st.started.inbound, s.calls)
      assert.equal(st.sorry, 0, 'no call took the sorry path')
      assert.equal(st.agiErrors, 0, 'no AGI errors')
      assert.deepEqual(st.ended, { [s.ended ?? 'hangup']: s.calls })
      if (s.actions) {
        assert.deepEqual(st.actions, Object.fromEntries(Object.entries(s.actions).map(([k, n]) => [k, n * s.calls])))
      }
      const mine = rows.filter((r) => r.instance_id === sim.ids[0])
      assert.equal(mine.length, s.calls, 'one calls row per call')
      const all: Results[] = []
      for (const row of mine) {
        assert.equal(row.status, 'ended')
        assert.equal(row.cause, '16')
        assert.equal(row.direction, 'inbound')
        assert.equal(row.number, s.number)
        assert.equal(row.flow_id, flowOf[s.number])
        assert.ok(row.duration_sec! > 0, 'a duration')
        const r = results.get(row.call_id)!
        s.check(r)
        if (r.voicemail !== undefined) {
          // The recording the simulated Asterisk wrote is where the agent said, and is audio.
          const file = join(sim.workDir, sim.ids[0]!, 'recordings', r.voicemail)
          assert.ok(await isWav(file.endsWith('.wav') ? file : `${file}.wav`), `${r.voicemail} is a WAV file`)
        }
        all.push(r)
      }
      t.diagnostic(`${s.name}: ${JSON.stringify(all)}`)
      s.covers?.(all)
      if (s.actions?.record) assert.equal(st.recordings, s.calls)
      if (s.actions?.dial) assert.equal(Object.values(st.dial).reduce((a, b) => a + b, 0), s.calls)
    })
  }
  const totals = sims.reduce((a, x) => { const st = x.stats(); return { steps: a.steps + st.steps, sorry: a.sorry + st.sorry } }, { steps: 0, sorry: 0 })
  t.diagnostic(`${total} calls, ${totals.steps} steps, ${totals.sorry} sorry; calls ran ${Math.round(t1 - t0)} ms`)
  const t2 = performance.now()
  await Promise.all(sims.map((x) => x.stop()))
  t.diagnostic(`checks ${Math.round(t2 - t1)} ms, stop ${Math.round(performance.now() - t2)} ms`)
})
