import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeRecording } from '@federate/sim'
import { freePort, waitFor } from '@federate/testkit'
import { startTestServer } from '../helpers/server.ts'
import { callRows, publishFlow, startSim, tapTier, writePrompts } from '../helpers/e2e.ts'

// When no app server answers, the dialplan's fallback must hold: the caller hears the sorry
// prompt and the call ends cleanly (never an AGI error, never a call stuck in the loop). A call
// the tier had already seen reports its end anyway: the agent keeps the call.end in its spool
// and delivers it once a server answers again.

const HOLD = '+15550400'

const hold = {
  format: 'federate.flow/1',
  name: 'Hold',
  start: 'welcome',
  nodes: {
    welcome: { type: 'play', prompts: ['hold/welcome'], next: 'hold' },
    hold: { type: 'wait', seconds: 30, next: 'bye' },
    bye: { type: 'play', prompts: ['hold/bye'], next: 'end' },
    end: { type: 'hangup' },
  },
}

test('with no app server answering, callers hear the sorry prompt, calls end cleanly, and their call ends are delivered from the spool when a server is back', { timeout: 90_000 }, async (t) => {
  // This server owns the database and publishes the flow; the agents never know its address.
  const home = await startTestServer(t)
  await publishFlow(home, 'hold', hold, [HOLD])
  // The agents' app servers: two addresses, nothing listening on either yet.
  const port = await freePort()
  const servers = [`http://127.0.0.1:${port}/RPC2`, `http://127.0.0.1:${await freePort()}/RPC2`]

  // A sorry prompt the simulated instances can find (prompt checks on): a missing one would
  // be counted and replaced by Asterisk's stock fallback.
  const audio = await mkdtemp(join(tmpdir(), 'fede2e-sorry-'))
  t.after(() => rm(audio, { recursive: true, force: true }))
  await writeRecording(join(audio, 'sorry.wav'), 'wav', 1)
  const e = await startSim(t, {
    prefix: 'down',
    tokenFor: home.tokenFor,
    instances: 2,
    capacity: 20,
    speed: 10,
    seed: 7,
    servers,
    checkPrompts: true,
    instanceDefaults: { sorryPrompt: join(audio, 'sorry') },
    profile: { hangup: { rate: 0 }, play: { promptSec: 2, interruptRate: 0 } },
    agentSettings: { heartbeatMs: 500, dialerIntervalMs: 5000, spoolRetryMs: 100, breakerCooldownMs: 200, connectTimeoutMs: 200 },
  })
  await writePrompts(e, ['hold/welcome', 'hold/bye'])
  const tap = tapTier(e.agents)
  const ended = (): number => Object.values(e.stats().ended).reduce((a, b) => a + b, 0)
  const spooled = async (): Promise<number> => (await Promise.all(e.agents.map((a) => a.spool.pending()))).flat().length

  await t.test('a new call hears the sorry prompt and hangs up with cause 41, leaving nothing to report', async () => {
    assert.equal(e.place(4, HOLD), 4)
    await waitFor(() => ended() === 4, { timeoutMs: 20_000, what: 'the calls to end' })
    const st = e.stats()
    assert.equal(st.sorry, 4)
    assert.deepEqual(st.ended, { sorry: 4 })
    assert.equal(st.steps, 4, 'one step each, then the sorry path')
    assert.equal(st.agiErrors, 0, 'the agent answered every AGI request')
    assert.equal(st.missingPrompts, 0, 'the sorry prompt was there to play')
    assert.deepEqual(st.actions, {})
    // The tier never saw these calls (no call id was given out): nothing to spool or store.
    assert.equal(await spooled(), 0)
    assert.deepEqual(await callRows(home.deps.pool, e.ids), [])
  })

  await t.test('calls in progress when the server goes away end on the sorry path; their ends wait in the spool and are delivered when it is back', async () => {
    const up = await startTestServer(t, {}, home.databaseUrl, { port })
    // The agents' circuits to it are open after the failures; they close on the next
    // heartbeat that gets through (one cool-down at most).
    const reachable = (): boolean => e.agents.every((a) => a.tier.status().find((s) => s.url === servers[0])!.state === 'closed')
    await waitFor(reachable, { timeoutMs: 5_000, what: 'the agents to see the server' })
    assert.equal(e.place(6, HOLD), 6)
    const live = () => e.sim.fleet.instances.flatMap((i) => i.calls())
    // Every call is on hold (past two steps), and the tier has their start on record.
    await waitFor(() => live().length === 6 && live().every((c) => c.channel.application === 'Wait'), { timeoutMs: 20_000, what: 'six calls on hold' })
      .catch((err: Error) => { throw new Error(`${err.message}: ${JSON.stringify(e.stats())} ${JSON.stringify(live().map((c) => c.channel.application))} ${JSON.stringify(tap.attempts.filter((x) => x.method === 'call.step').slice(-8).map((x) => [x.method, x.server, x.error]))}`) })
    assert.equal((await callRows(home.deps.pool, e.ids)).filter((r) => r.status === 'active').length, 6)
    await up.close()

    // The next step finds no server: sorry path; the hangup handler's call.end is spooled.
    await waitFor(() => ended() === 10, { timeoutMs: 30_000, what: 'the held calls to end' })
    await waitFor(async () => await spooled() === 6, { timeoutMs: 5_000, what: 'six call ends in the spools' })
    const st = e.stats()
    assert.equal(st.sorry, 10)
    assert.deepEqual(st.ended, { sorry: 10 })
    assert.equal(st.agiErrors, 0)
    assert.equal(st.missingPrompts, 0)
    assert.deepEqual(st.actions, { play: 6, wait: 6 })
    assert.deepEqual((await callRows(home.deps.pool, e.ids)).map((r) => r.status), Array(6).fill('active'))

    // A server comes back on the same address: the spools drain into the database.
    const t0 = performance.now()
    await startTestServer(t, {}, home.databaseUrl, { port })
    await waitFor(async () => await spooled() === 0, { timeoutMs: 15_000, what: 'the spools to drain' })
    const rows = await callRows(home.deps.pool, e.ids)
    t.diagnostic(`spool drained ${Math.round(performance.now() - t0)} ms after the server came back`)
    assert.equal(rows.length, 6)
    for (const r of rows) {
      assert.equal(r.status, 'ended')
      assert.equal(r.cause, '41', 'the sorry path hangs up with cause 41')
      assert.ok(r.duration_sec! >= 30, `duration ${r.duration_sec} covers the hold`)
    }
  })
  await e.stop()
})
