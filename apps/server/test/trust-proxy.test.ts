import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseTrustProxy, trustProxyOption } from '../src/trust-proxy.ts'

test('FEDERATE_TRUST_PROXY: off, on, a hop count or the proxies\' addresses; anything else is refused', () => {
  for (const v of ['false', 'no', 'off', '0', ' FALSE ']) assert.equal(parseTrustProxy(v), false, v)
  for (const v of ['true', 'yes', 'on']) assert.equal(parseTrustProxy(v), true, v)
  assert.equal(parseTrustProxy('1'), 1)
  assert.equal(parseTrustProxy('10'), 10)
  assert.equal(parseTrustProxy('10.0.0.0/8, 192.168.1.7,::1,fd00::/8'), '10.0.0.0/8,192.168.1.7,::1,fd00::/8')
  assert.throws(() => parseTrustProxy('11'), /hop count is 1 to 10/)
  assert.throws(() => parseTrustProxy('10.0.0.0/33'), /"10\.0\.0\.0\/33" is not an IP address or CIDR range/)
  assert.throws(() => parseTrustProxy('1,2'), /"1" is not an IP address/)
  assert.throws(() => parseTrustProxy(' , '), /give true, false, a hop count/)
  // A hop count becomes proxy-addr's hop function: the first n hops are proxies.
  const two = trustProxyOption('2') as (a: string, hop: number) => boolean
  assert.deepEqual([0, 1, 2, 3].map((h) => two('x', h)), [true, true, false, false])
  assert.equal(trustProxyOption(true), true)
})
