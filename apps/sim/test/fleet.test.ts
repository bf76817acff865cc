import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { waitFor } from '@federate/testkit'
import { createFleet } from '../src/app.ts'
import { fakeAgent } from './helpers.ts'

const mb = (n: number): string => `${(n / 1048576).toFixed(0)} MB`

test('a fleet of 34 instances x 100 channels starts and stops in one process within a few seconds', async (t) => {
  const rss0 = process.memoryUsage().rss
  const t0 = performance.now()
  const fleet = createFleet({ instances: 34, capacity: 100, agiTarget: { host: '127.0.0.1', port: 1 }, seed: 1 })
  await fleet.start()
  const started = performance.now() - t0
  const ports = new Set(fleet.instances.map((i) => i.amiPort))
  assert.equal(ports.size, 34, 'each instance has its own AMI port')
  // Every AMI port answers with a banner.
  const banner = await new Promise<string>((resolve, reject) => {
    const s = connect({ port: fleet.instances[33]!.amiPort, host: '127.0.0.1' })
    s.once('data', (d) => { resolve(d.toString()); s.destroy() })
    s.once('error', reject)
  })
  assert.match(banner, /^Asterisk Call Manager\//)
  const t1 = performance.now()
  await fleet.stop()
  await fleet.stop()
  const stopped = performance.now() - t1
  t.diagnostic(`34 instances: start ${started.toFixed(0)} ms, stop ${stopped.toFixed(0)} ms, rss ${mb(process.memoryUsage().rss)} (+${mb(process.memoryUsage().rss - rss0)})`)
  assert.ok(started < 3000, `start took ${started} ms`)
  assert.ok(stopped < 3000, `stop took ${stopped} ms`)
})

// The full 3,400 calls take ~4 s of CPU (both sides of every AGI session run in this process):
// FEDERATE_SIM_FULL=1 runs all of them; by default 20 calls per instance keep the suite fast.
const PER_INSTANCE = process.env.FEDERATE_SIM_FULL === '1' ? 100 : 20
const TOTAL = 34 * PER_INSTANCE

test(`${TOTAL} concurrent calls on 34 instances run in one process and are cut cleanly at shutdown, each reporting its end`, async (t) => {
  // Every call asks for one step and is told to wait an hour: the fleet then holds them all. A lean agent (fewest round trips) keeps the test about the sim, not the agent.
  let n = 0
  let ends = 0
  const agent = await fakeAgent(async (s) => {
    if (s.env.agi_network_script === 'step') {
      await s.cmd(`SET VARIABLE FED_CALLID c${++n}`)
      await s.cmd('SET VARIABLE FED_WAIT_SEC 3600')
      await s.cmd('SET VARIABLE FED_ACTION wait')
    } else if (s.env.agi_arg_1) {
      ends++
    }
    s.close()
  })
  t.after(() => agent.close())
  const rss0 = process.memoryUsage().rss
  const fleet = createFleet({
    instances: 34,
    capacity: 100,
    agiTarget: { host: '127.0.0.1', port: agent.port },
    seed: 2,
    profile: { hangup: { rate: 0 } },
    instanceDefaults: { agiConnectTimeoutMs: 10000 },
  })
  await fleet.start()
  t.after(() => fleet.stop())
  const t0 = performance.now()
  for (const inst of fleet.instances) {
    for (let i = 0; i < PER_INSTANCE; i++) assert.equal(inst.placeInbound({ number: '+15550100000' }), true)
    // Like a carrier's arrivals, not one burst of 3,400 SYNs.
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  if (PER_INSTANCE === 100) assert.equal(fleet.instances[0]!.placeInbound(), false, 'a full instance refuses the next call')
  await waitFor(() => fleet.stats().actions.wait === TOTAL, { timeoutMs: 30000, what: 'every call to be waiting' })
  const filled = performance.now() - t0
  const st = fleet.stats()
  assert.equal(st.active, TOTAL)
  assert.equal(st.peak, TOTAL)
  assert.equal(st.agiErrors, 0)
  const rss = process.memoryUsage().rss
  const t1 = performance.now()
  await fleet.stop({ graceMs: 0 })
  const stopped = performance.now() - t1
  const end = fleet.stats()
  t.diagnostic(`${TOTAL} calls: in the loop after ${filled.toFixed(0)} ms, rss ${mb(rss)} (+${mb(rss - rss0)}), cut and ended in ${stopped.toFixed(0)} ms`)
  assert.equal(end.active, 0)
  assert.equal(end.ended.cut, TOTAL)
  assert.equal(ends, TOTAL, 'every cut call ran its hangup handler')
  assert.ok(stopped < 15000)
})
