import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '@federate/config'
import { startHeartbeatServer, waitFor } from '@federate/testkit'
import { controllerSettings, createProviderFromConfig } from '../src/app.ts'
import { buildSimBundle } from '../src/sim-bundle.ts'

test('the bundle of federate sim runs with plain node: same command, same help', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fed-bundle-'))
  t.after(() => { rmSync(dir, { recursive: true, force: true }) })
  const args = buildSimBundle(dir)
  assert.deepEqual(args, [join(dir, 'federate-sim.mjs')])
  // Node's built-ins only: every workspace package (TypeScript) and dependency is inside.
  const source = readFileSync(args[0]!, 'utf8')
  assert.doesNotMatch(source, /from ["']@federate\//)
  const help = execFileSync(process.execPath, [...args, 'sim', '--help'], { encoding: 'utf8' })
  assert.match(help, /--tokens-file <file\.json>/)
  assert.match(help, /--id-prefix <prefix>/)
  // A bad flag is refused as by `federate sim`.
  assert.throws(() => execFileSync(process.execPath, [...args, 'sim', '--capacity', 'lots'], { encoding: 'utf8', stdio: 'pipe' }), /capacity must be an integer/)
})

test('the local provider from config starts instances from the bundle, without tsx', async (t) => {
  const app = await startHeartbeatServer()
  const stateDir = mkdtempSync(join(tmpdir(), 'fed-local-'))
  const cfg = loadConfig(controllerSettings, { env: { FEDERATE_PROVIDER: 'local', FEDERATE_AGENT_SERVERS: app.url, FEDERATE_LOCAL_STATE_DIR: stateDir } })
  assert.equal(cfg.localBundle, true)
  const provider = createProviderFromConfig(cfg)
  t.after(async () => {
    await provider.close()
    await app.close()
    rmSync(stateDir, { recursive: true, force: true })
  })
  assert.ok(existsSync(join(stateDir, 'federate-sim.mjs')))
  const token = 'fit_0123456789abcdef_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde'
  const out = await provider.launch([{ id: 'bun-0a1b2c-1', token }])
  const pid = Number(out.launched[0]!.ref)
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
  assert.equal(cmdline[1], join(stateDir, 'federate-sim.mjs'))
  assert.ok(!cmdline.includes('tsx'), cmdline.join(' '))
  const hb = await waitFor(() => app.calls.find((c) => c.method === 'instance.heartbeat'), { timeoutMs: 30_000, what: 'a heartbeat from the bundled instance' })
  assert.equal(hb.auth, `Bearer ${token}`)
  assert.match(hb.body, /bun-0a1b2c-1/)
  await provider.terminate(['bun-0a1b2c-1'])
  assert.deepEqual(await provider.list(), [])
})
