import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startHeartbeatServer, waitFor } from '@federate/testkit'
import { createLocalProvider, simIdPrefix } from '../src/index.ts'

const SIM_COMMAND = new URL('../../../apps/cli/src/commands/sim.ts', import.meta.url)

const alive = (pid: number) => { try { process.kill(pid, 0); return true } catch { return false } }

test('the local provider starts a real simulated instance with its id and token, and stops it', { skip: !existsSync(SIM_COMMAND) && 'apps/cli/src/commands/sim.ts (federate sim) does not exist yet' }, async (t) => {
  const app = await startHeartbeatServer()
  const stateDir = mkdtempSync(join(tmpdir(), 'fed-local-'))
  const provider = createLocalProvider({ servers: [app.url], stateDir, killAfterMs: 5000, graceSec: 1 })
  t.after(async () => {
    await provider.close()
    await app.close()
    rmSync(stateDir, { recursive: true, force: true })
  })
  const token = 'fit_0123456789abcdef_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde'
  const out = await provider.launch([{ id: 'loc-0a1b2c-1', token }, { id: 'not-a-sim-id', token }])
  assert.equal(out.launched.length, 1)
  assert.match(out.failed[0]!.error.message, /must end in 1/)
  const pid = Number(out.launched[0]!.ref)
  // The token file is the owner's only.
  assert.equal(statSync(join(stateDir, 'loc-0a1b2c-1.token.json')).mode & 0o077, 0)

  // The instance's agent reports under the controller's id, with the controller's token.
  const hb = await waitFor(() => app.calls.find((c) => c.method === 'instance.heartbeat'), { timeoutMs: 30_000, what: 'a heartbeat from the simulated instance' })
  assert.equal(hb.auth, `Bearer ${token}`)
  assert.match(hb.body, /<name>instanceId<\/name>\s*<value>(<string>)?loc-0a1b2c-1</)
  assert.deepEqual((await provider.list()).map((i) => [i.id, i.ref, i.state]), [['loc-0a1b2c-1', String(pid), 'running']])
  // Launching the same id again does not start a second process.
  const again = await provider.launch([{ id: 'loc-0a1b2c-1', token }])
  assert.equal(again.launched[0]!.ref, String(pid))

  await provider.terminate(['loc-0a1b2c-1'])
  assert.equal(alive(pid), false)
  assert.deepEqual(await provider.list(), [])
  assert.equal(existsSync(join(stateDir, 'loc-0a1b2c-1.token.json')), false)
  await provider.terminate(['loc-0a1b2c-1'])
})

test('local instance ids map onto federate sim\'s <prefix>1 naming', () => {
  assert.equal(simIdPrefix('fed-0a1b2c3d4e-1'), 'fed-0a1b2c3d4e-')
  assert.throws(() => simIdPrefix('fed-2'), { code: 'FED_SCALER_INVALID_INPUT' })
  assert.throws(() => simIdPrefix('bad id 1'), /must end in 1/)
})
