import { test } from 'node:test'
import assert from 'node:assert/strict'
import { suffix } from '@federate/testkit'
import { DbError, flows, jsonSha256, numbers } from '../src/index.ts'
import { useMigratedDatabase } from './helpers.ts'

const db = useMigratedDatabase()
const isCode = (code: string) => (err: unknown) => err instanceof DbError && err.code === code

test('flows are created once, published as numbered versions and read back by version or latest', async () => {
  const { pool } = db
  const id = `survey-${suffix()}`
  const created = await flows.createOrGetFlow(pool, id, 'Customer survey')
  assert.equal(created.created, true)
  assert.equal(created.latestVersion, 0)
  const again = await flows.createOrGetFlow(pool, id, 'another name is ignored')
  assert.equal(again.created, false)
  assert.equal(again.name, 'Customer survey')

  assert.equal(await flows.getLatest(pool, id), null, 'no version yet')
  const v1 = await flows.publishVersion(pool, id, { start: 'a', nodes: { a: { type: 'hangup' } } })
  const v2 = await flows.publishVersion(pool, id, { nodes: { b: { type: 'hangup' } }, start: 'b' })
  assert.equal(v1.version, 1)
  assert.equal(v2.version, 2)
  assert.equal(v2.sha256, jsonSha256({ start: 'b', nodes: { b: { type: 'hangup' } } }), 'hash ignores key order')

  const got = await flows.getVersion<{ start: string }>(pool, id, 1)
  assert.equal(got?.definition.start, 'a')
  assert.equal(got?.sha256, v1.sha256)
  assert.equal((await flows.getLatest(pool, id))?.version, 2)
  assert.equal((await flows.getFlow(pool, id))?.latestVersion, 2)

  const other = `alpha-${suffix()}`
  await flows.createOrGetFlow(pool, other, 'Alpha')
  const listed = (await flows.list(pool)).filter((f) => f.id === id || f.id === other)
  assert.deepEqual(listed.map((f) => [f.id, f.latestVersion]), [[other, 0], [id, 2]].sort((a, b) => String(a[0]).localeCompare(String(b[0]))))
})

test('unknown flows and versions read as null and cannot be published to', async () => {
  const { pool } = db
  const id = `f1-${suffix()}`
  await flows.createOrGetFlow(pool, id, 'F1')
  assert.equal(await flows.getVersion(pool, id, 1), null)
  assert.equal(await flows.getVersion(pool, 'nope', 1), null)
  assert.equal(await flows.getLatest(pool, 'nope'), null)
  assert.equal(await flows.getFlow(pool, 'nope'), null)
  await assert.rejects(flows.publishVersion(pool, 'nope', { a: 1 }), isCode('FED_DB_NOT_FOUND'))
})

test('bad flow ids, names, versions and definitions are refused with FED_DB_INVALID_INPUT', async () => {
  const { pool } = db
  const invalid = isCode('FED_DB_INVALID_INPUT')
  await assert.rejects(flows.createOrGetFlow(pool, 'has space', 'x'), invalid)
  await assert.rejects(flows.createOrGetFlow(pool, 'id@2', 'x'), invalid)
  await assert.rejects(flows.createOrGetFlow(pool, '', 'x'), invalid)
  const id = `ok-${suffix()}`
  await assert.rejects(flows.createOrGetFlow(pool, id, ''), invalid)
  await flows.createOrGetFlow(pool, id, 'OK')
  await assert.rejects(flows.publishVersion(pool, id, null), invalid)
  await assert.rejects(flows.publishVersion(pool, id, 'a string' as unknown as object), invalid)
  await assert.rejects(flows.getVersion(pool, id, 0), invalid)
  await assert.rejects(flows.getVersion(pool, id, 1.5), invalid)
  assert.equal((await flows.getFlow(pool, id))?.latestVersion, 0, 'nothing was published')
})

test('flow versions are immutable: the database refuses UPDATE and DELETE', async () => {
  const { pool } = db
  const id = `frozen-${suffix()}`
  await flows.createOrGetFlow(pool, id, 'Frozen')
  await flows.publishVersion(pool, id, { a: 1 })
  await assert.rejects(pool.query('UPDATE flow_versions SET definition = \'{"a":2}\' WHERE flow_id = $1', [id]), /immutable/)
  await assert.rejects(pool.query("UPDATE flow_versions SET sha256 = repeat('0', 64)"), /immutable/)
  await assert.rejects(pool.query('DELETE FROM flow_versions WHERE flow_id = $1', [id]), /immutable/)
  assert.deepEqual((await flows.getVersion(pool, id, 1))?.definition, { a: 1 })
})

test('concurrent publishes of one flow get distinct consecutive versions', async () => {
  const { pool } = db
  const id = `busy-${suffix()}`
  await flows.createOrGetFlow(pool, id, 'Busy')
  const published = await Promise.all(Array.from({ length: 20 }, (_, i) => flows.publishVersion(pool, id, { i })))
  const versions = published.map((p) => p.version).sort((a, b) => a - b)
  assert.deepEqual(versions, Array.from({ length: 20 }, (_, i) => i + 1))
  // Each version holds the definition its publisher sent.
  for (const p of published) assert.deepEqual((await flows.getVersion(pool, id, p.version))?.definition, p.definition)
  assert.equal((await flows.getLatest(pool, id))?.version, 20)
})

test('numbers bind to a flow (latest or a pinned version), resolve, rebind, unbind and list', async () => {
  const { pool } = db
  const u = suffix()
  const id = `main-${u}`
  const did = `+1555${u}`.replace(/[a-f]/g, '7')
  const ext = `ext-${u}`
  await flows.createOrGetFlow(pool, id, 'Main')
  await flows.publishVersion(pool, id, { v: 1 })
  await flows.publishVersion(pool, id, { v: 2 })

  assert.equal(await numbers.resolve(pool, did), null)
  await numbers.bind(pool, did, id, null)
  assert.deepEqual(await numbers.resolve(pool, did), { flowId: id, version: null })
  await numbers.bind(pool, did, id, 1)
  assert.deepEqual(await numbers.resolve(pool, did), { flowId: id, version: 1 })
  await numbers.bind(pool, ext, id, 2)
  const mine = (await numbers.list(pool)).filter((b) => b.flowId === id)
  assert.deepEqual(mine.map((b) => [b.number, b.version]), [[did, 1], [ext, 2]])

  assert.equal(await numbers.unbind(pool, ext), true)
  assert.equal(await numbers.unbind(pool, ext), false)
  assert.equal(await numbers.resolve(pool, ext), null)
})

test('binding to an unknown flow or version fails with FED_DB_NOT_FOUND, bad numbers with FED_DB_INVALID_INPUT', async () => {
  const { pool } = db
  const id = `main-${suffix()}`
  const did = `n-${suffix()}`
  await flows.createOrGetFlow(pool, id, 'Main')
  await flows.publishVersion(pool, id, { v: 1 })
  await assert.rejects(numbers.bind(pool, did, 'ghost', null), isCode('FED_DB_NOT_FOUND'))
  await assert.rejects(numbers.bind(pool, did, id, 9), isCode('FED_DB_NOT_FOUND'))
  await assert.rejects(numbers.bind(pool, '1 00', id, null), isCode('FED_DB_INVALID_INPUT'))
  await assert.rejects(numbers.bind(pool, did, id, 0), isCode('FED_DB_INVALID_INPUT'))
  assert.equal(await numbers.resolve(pool, "'; DROP TABLE numbers; --"), null)
  assert.equal(await numbers.resolve(pool, did), null)
})
