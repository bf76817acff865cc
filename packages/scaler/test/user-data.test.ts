import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { backoffDelay, renderUserData, withRetry, USER_DATA_MAX_BYTES } from '../src/index.ts'

const vars = {
  instanceId: 'fed-0a1b2c3d4e-1',
  instanceToken: 'fit_0123456789abcdef_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde',
  servers: 'http://10.0.0.5:8080/RPC2,http://10.0.0.6:8080/RPC2',
  capacity: 100,
  cluster: 'prod',
  agentPackageUrl: 'https://releases.example.com/federate-0.1.0.tar.gz?X-Amz-Expires=3600&X-Amz-Signature=abc~1',
}

test('the infra/aws user-data template renders with an instance\'s id, token and servers', async () => {
  const template = await readFile(new URL('../../../infra/aws/user-data.yaml', import.meta.url), 'utf8')
  const out = renderUserData(template, vars)
  assert.match(out, /^#cloud-config/)
  assert.ok(out.includes(`FEDERATE_INSTANCE_ID=${vars.instanceId}`))
  assert.ok(out.includes(`FEDERATE_INSTANCE_TOKEN=${vars.instanceToken}`))
  assert.ok(out.includes(vars.servers))
  assert.ok(out.includes(`'${vars.agentPackageUrl}'`))
  assert.doesNotMatch(out, /\{\{/)
})

test('a missing value, an unsafe value or an oversized result is refused', () => {
  assert.throws(() => renderUserData('id={{instanceId}} x={{nope}}', vars), { code: 'FED_SCALER_INVALID_INPUT', message: /\{\{nope\}\}/ })
  assert.throws(() => renderUserData('id={{instanceId}}', { instanceId: 'a"; rm -rf /' }), /outside/)
  assert.throws(() => renderUserData('id={{instanceId}}', { instanceId: 'a\nruncmd: [x]' }), /outside/)
  assert.throws(() => renderUserData("url='{{u}}'", { u: "https://x/'$(reboot)'" }), /outside/)
  assert.throws(() => renderUserData('x'.repeat(USER_DATA_MAX_BYTES + 1), {}), /at most 16384/)
})

test('backoff doubles with jitter up to its cap, and retries only what may be retried', async () => {
  const fixed = { baseDelayMs: 100, maxDelayMs: 1000, random: () => 1 }
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, fixed)), [100, 200, 400, 800, 1000, 1000])
  assert.equal(backoffDelay(0, { ...fixed, random: () => 0 }), 50)
  const waits: number[] = []
  let calls = 0
  const out = await withRetry(async () => { if (++calls < 3) throw Object.assign(new Error('slow down'), { name: 'RequestLimitExceeded' }); return 'ok' },
    (err) => (err as Error).name === 'RequestLimitExceeded', { ...fixed, sleep: async (ms) => { waits.push(ms) } })
  assert.equal(out, 'ok')
  assert.deepEqual(waits, [100, 200])
  await assert.rejects(withRetry(async () => { throw new Error('bad template') }, () => false, { sleep: async () => { throw new Error('no wait expected') } }), /bad template/)
  let tries = 0
  await assert.rejects(withRetry(async () => { tries++; throw new Error('again') }, () => true, { maxAttempts: 3, sleep: async () => {} }), /again/)
  assert.equal(tries, 3)
})
