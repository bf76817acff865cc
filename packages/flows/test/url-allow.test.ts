import assert from 'node:assert/strict'
import { test } from 'node:test'
import { checkUrl, isAllowedUrl, isBlockedAddress } from '../src/index.ts'

test('an exact host entry allows that host only', () => {
  assert.equal(isAllowedUrl('https://api.example.com/hook?a=1', ['api.example.com']), true)
  assert.equal(isAllowedUrl('https://API.Example.com./hook', ['api.example.com']), true, 'case and trailing dot are normalised')
  assert.equal(isAllowedUrl('https://other.example.com/', ['api.example.com']), false)
  assert.equal(isAllowedUrl('https://api.example.com.evil.net/', ['api.example.com']), false)
  assert.equal(isAllowedUrl('https://api.example.com/', []), false)
})

test('a wildcard entry allows sub-domains but not the parent or look-alikes', () => {
  const list = ['*.example.com']
  assert.equal(isAllowedUrl('https://a.example.com/', list), true)
  assert.equal(isAllowedUrl('https://a.b.example.com/', list), true)
  assert.equal(isAllowedUrl('https://example.com/', list), false)
  assert.equal(isAllowedUrl('https://evilexample.com/', list), false)
})

test('an entry with a port pins the port', () => {
  assert.equal(isAllowedUrl('http://hooks.example.com:8080/x', ['hooks.example.com:8080']), true)
  assert.equal(isAllowedUrl('http://hooks.example.com:8081/x', ['hooks.example.com:8080']), false)
  assert.equal(isAllowedUrl('https://hooks.example.com/x', ['hooks.example.com:443']), true)
})

test('only http and https without credentials', () => {
  assert.deepEqual(checkUrl('ftp://api.example.com/', ['*']), { ok: false, reason: 'scheme ftp: is not http or https' })
  assert.deepEqual(checkUrl('file:///etc/passwd', ['*']), { ok: false, reason: 'scheme file: is not http or https' })
  assert.deepEqual(checkUrl('https://user:pw@api.example.com/', ['*']), { ok: false, reason: 'credentials in the URL are not allowed' })
  assert.deepEqual(checkUrl('not a url', ['*']), { ok: false, reason: 'not a valid URL' })
})

test('loopback, link-local and metadata hosts are refused even under a wildcard', () => {
  for (const url of [
    'http://127.0.0.1/', 'http://127.1.2.3/', 'http://2130706433/', 'http://0x7f000001/', 'http://0.0.0.0/',
    'http://169.254.169.254/latest/meta-data/', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://[fe80::1]/',
    'http://[fd00:ec2::254]/', 'http://localhost:3000/', 'http://app.localhost/', 'http://metadata.google.internal/',
  ]) {
    const r = checkUrl(url, ['*'])
    assert.equal(r.ok, false, url)
  }
  assert.equal(isAllowedUrl('http://10.0.0.5/hook', ['*']), true, 'private networks are the operator\'s own services')
})

test('an exact entry explicitly opens an internal host (tests, local demos)', () => {
  assert.equal(isAllowedUrl('http://127.0.0.1:3000/hook', ['127.0.0.1:3000']), true)
  assert.equal(isAllowedUrl('http://localhost/hook', ['localhost']), true)
  assert.equal(isAllowedUrl('http://[::1]:8080/', ['[::1]:8080']), true)
  assert.equal(isAllowedUrl('http://127.0.0.1:3000/hook', ['*', '10.0.0.1']), false)
})

test('isBlockedAddress recognises the internal addresses a DNS answer may hold', () => {
  for (const a of ['127.0.0.1', '127.255.0.1', '0.0.0.0', '169.254.169.254', '169.254.1.1', '100.100.100.200', '::', '::1', '[::1]',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe', 'fe80::1', 'fe80::1%eth0', 'febf::1', 'fd00:ec2::254', '64:ff9b::7f00:1', '0:0:0:0:0:0:0:1']) {
    assert.equal(isBlockedAddress(a), true, a)
  }
  for (const a of ['8.8.8.8', '10.0.0.1', '192.168.1.1', '2001:db8::1', 'fec0::1', '::ffff:8.8.8.8', '1::', 'example.com', '256.1.1.1', '1:2:3:4:5:6:7:8:9']) {
    assert.equal(isBlockedAddress(a), false, a)
  }
})
