import { test } from 'node:test'
import assert from 'node:assert/strict'
import Type from 'typebox'
import { defineSettings, loadConfig, ConfigError, redacted, databaseSettings, memcachedSettings } from '../src/index.ts'

const spec = defineSettings({
  port: { env: 'FED_T_PORT', schema: Type.Integer({ minimum: 1, maximum: 65535 }), default: 8080, description: 'port' },
  enabled: { env: 'FED_T_ENABLED', schema: Type.Boolean(), default: true, description: 'switch' },
  servers: { env: 'FED_T_SERVERS', schema: Type.Array(Type.String()), default: ['a'], description: 'list' },
  token: { env: 'FED_T_TOKEN', schema: Type.String({ minLength: 4 }), description: 'a secret', secret: true },
})

test('config reads the environment over the file over the defaults, and freezes', () => {
  const c = loadConfig(spec, { env: { FED_T_PORT: '9000', FED_T_ENABLED: 'no', FED_T_SERVERS: 'x, y' }, file: { token: 'abcd', port: 1 } })
  assert.deepEqual({ ...c }, { port: 9000, enabled: false, servers: ['x', 'y'], token: 'abcd' })
  assert.ok(Object.isFrozen(c))
  const d = loadConfig(spec, { env: { FED_T_TOKEN: 'zzzz' } })
  assert.equal(d.port, 8080)
})

test('config errors name every bad or missing variable and hide secrets', () => {
  assert.throws(() => loadConfig(spec, { env: { FED_T_PORT: 'abc', FED_T_ENABLED: 'maybe' } }), (err: unknown) => {
    assert.ok(err instanceof ConfigError)
    assert.equal(err.problems.length, 3)
    assert.match(err.message, /FED_T_PORT must be/)
    assert.match(err.message, /FED_T_ENABLED/)
    assert.match(err.message, /FED_T_TOKEN is required/)
    return true
  })
  assert.throws(() => loadConfig(spec, { env: { FED_T_TOKEN: 'ab' } }), /FED_T_TOKEN .*\(hidden\)/)
})

test('shared settings validate URLs and host:port lists, and redact secrets', () => {
  assert.throws(() => loadConfig(databaseSettings, { env: { DATABASE_URL: 'mysql://x' } }), /DATABASE_URL/)
  assert.throws(() => loadConfig(memcachedSettings, { env: { MEMCACHED_SERVERS: 'nohost' } }), /MEMCACHED_SERVERS/)
  const c = loadConfig(databaseSettings, { env: {} })
  assert.equal(redacted(databaseSettings, c).databaseUrl, '[redacted]')
})

test('an empty value empties a list or a string but leaves numbers at their default', () => {
  const c = loadConfig(spec, { env: { FED_T_SERVERS: '', FED_T_PORT: '', FED_T_TOKEN: 'abcd' } })
  assert.deepEqual(c.servers, [])
  assert.equal(c.port, 8080)
  assert.throws(() => loadConfig(spec, { env: { FED_T_TOKEN: '' } }), /FED_T_TOKEN .*(characters|least)/)
})
