import { test } from 'node:test'
import assert from 'node:assert/strict'
import { suffix } from '@federate/testkit'
import { DbError, instances } from '../src/index.ts'
import { useMigratedDatabase } from './helpers.ts'

const db = useMigratedDatabase({ max: 10 })

const isCode = (code: string) => (err: unknown) => err instanceof DbError && err.code === code
const beat = (instanceId: string, extra: Partial<instances.Heartbeat> = {}): instances.Heartbeat =>
  ({ instanceId, activeCalls: 3, capacity: 100, manifestVersion: 7, agentVersion: '0.1.0', ...extra })

test('a launched instance syncs then becomes ready through its heartbeats', async () => {
  const { pool } = db
  const u = suffix()
  const created = await instances.create(pool, { id: `i-1-${u}`, provider: 'local', providerRef: 'pid-123', instanceType: 'sim', meta: { region: 'eu' } })
  assert.equal(created.created, true)
  assert.equal(created.state, 'pending')
  assert.deepEqual(created.meta, { region: 'eu' })
  assert.equal((await instances.create(pool, { id: `i-1-${u}`, provider: 'other' })).created, false, 'a retried launch is harmless')

  const syncing = await instances.heartbeat(pool, beat(`i-1-${u}`, { ready: false, pendingUploads: 2, addr: '10.0.0.1:4573' }))
  assert.equal(syncing.state, 'syncing')
  assert.equal(syncing.readyAt, null)
  assert.equal(syncing.pendingUploads, 2)
  assert.ok(syncing.lastHeartbeatAt instanceof Date)

  const ready = await instances.heartbeat(pool, beat(`i-1-${u}`, { ready: true, activeCalls: 9 }))
  assert.equal(ready.state, 'ready')
  assert.ok(ready.readyAt instanceof Date)
  assert.equal(ready.activeCalls, 9)
  assert.equal(ready.provider, 'local')
  assert.equal(ready.addr, '10.0.0.1:4573', 'kept when a heartbeat omits it')
  assert.equal((await instances.heartbeat(pool, beat(`i-1-${u}`, { ready: false }))).state, 'ready', 'a ready instance stays ready')
})

test('a heartbeat from an unknown instance registers it; one from a draining or terminated instance keeps its state', async () => {
  const { pool } = db
  const u = suffix()
  const unknown = await instances.heartbeat(pool, beat(`i-new-${u}`))
  assert.equal(unknown.state, 'ready', 'no ready flag means ready')
  assert.equal(unknown.provider, 'unknown')

  await instances.setState(pool, `i-new-${u}`, 'draining')
  assert.equal((await instances.heartbeat(pool, beat(`i-new-${u}`))).state, 'draining')
  await instances.setState(pool, `i-new-${u}`, 'terminated')
  assert.equal((await instances.heartbeat(pool, beat(`i-new-${u}`))).state, 'terminated')
})

test('setState follows the allowed transitions, sets their timestamps, and is idempotent', async () => {
  const { pool } = db
  const u = suffix()
  await instances.create(pool, { id: `i-2-${u}`, provider: 'ec2' })
  assert.equal((await instances.setState(pool, `i-2-${u}`, 'booting'))?.state, 'booting')
  const ready = await instances.setState(pool, `i-2-${u}`, 'ready')
  assert.ok(ready?.readyAt)
  const deadline = new Date(Date.now() + 600_000)
  const draining = await instances.setState(pool, `i-2-${u}`, 'draining', { drainDeadline: deadline })
  assert.equal(draining?.drainDeadline?.getTime(), deadline.getTime())
  assert.ok(draining?.drainStartedAt)
  const again = await instances.setState(pool, `i-2-${u}`, 'draining')
  assert.equal(again?.drainStartedAt?.getTime(), draining?.drainStartedAt?.getTime(), 'draining twice keeps the first start')
  const resumed = await instances.setState(pool, `i-2-${u}`, 'ready')
  assert.equal(resumed?.drainDeadline, null)
  await instances.setState(pool, `i-2-${u}`, 'lost')
  await instances.setState(pool, `i-2-${u}`, 'terminated')
  const gone = await instances.get(pool, `i-2-${u}`)
  assert.ok(gone?.terminatedAt)
  await assert.rejects(instances.setState(pool, `i-2-${u}`, 'ready'), isCode('FED_DB_INVALID_TRANSITION'))
  await assert.rejects(instances.setState(pool, `i-2-${u}`, 'draining'), isCode('FED_DB_INVALID_TRANSITION'))
  assert.equal((await instances.setState(pool, `i-2-${u}`, 'terminated'))?.state, 'terminated')
})

test('transitions out of the table are refused and unknown instances read as null', async () => {
  const { pool } = db
  const u = suffix()
  await instances.create(pool, { id: `i-3-${u}`, provider: 'local' })
  await instances.setState(pool, `i-3-${u}`, 'syncing')
  await assert.rejects(instances.setState(pool, `i-3-${u}`, 'booting'), isCode('FED_DB_INVALID_TRANSITION'))
  await assert.rejects(instances.setState(pool, `i-3-${u}`, 'pending'), isCode('FED_DB_INVALID_TRANSITION'))
  await assert.rejects(instances.setState(pool, `i-3-${u}`, 'asleep' as instances.InstanceState), isCode('FED_DB_INVALID_INPUT'))
  assert.equal((await instances.get(pool, `i-3-${u}`))?.state, 'syncing')
  assert.equal(await instances.setState(pool, 'ghost', 'ready'), null)
  assert.equal(await instances.get(pool, 'ghost'), null)
})

test('racing moves are checked and applied atomically: terminated is never overwritten', async () => {
  const { pool } = db
  const u = suffix()
  for (let i = 0; i < 5; i++) {
    const id = `race-${i}-${u}`
    await instances.create(pool, { id, provider: 'local' })
    await instances.setState(pool, id, 'draining')
    // Serially, either order ends terminated (ready -> terminated is allowed, terminated -> ready is not).
    const outcomes = await Promise.allSettled([
      instances.setState(pool, id, 'ready'), instances.setState(pool, id, 'terminated'),
      instances.setState(pool, id, 'ready'), instances.setState(pool, id, 'ready'),
    ])
    assert.equal(outcomes[1].status, 'fulfilled')
    assert.equal((await instances.get(pool, id))?.state, 'terminated')
    for (const o of outcomes) if (o.status === 'rejected') assert.equal((o.reason as DbError).code, 'FED_DB_INVALID_TRANSITION')
  }
})

test('list returns live instances by default and any states when asked; bad heartbeats are refused', async () => {
  const { pool } = db
  const u = suffix()
  await instances.create(pool, { id: `a-${u}`, provider: 'local' })
  await instances.create(pool, { id: `b-${u}`, provider: 'local' })
  await instances.setState(pool, `b-${u}`, 'terminated')
  const mine = (list: instances.Instance[]) => list.map((i) => i.id).filter((id) => id.endsWith(u))
  assert.deepEqual(mine(await instances.list(pool)), [`a-${u}`])
  assert.deepEqual(mine(await instances.list(pool, { states: ['terminated'] })), [`b-${u}`])

  const invalid = isCode('FED_DB_INVALID_INPUT')
  await assert.rejects(instances.heartbeat(pool, beat(`a-${u}`, { activeCalls: -1 })), invalid)
  await assert.rejects(instances.heartbeat(pool, beat(`a-${u}`, { capacity: 1.5 })), invalid)
  await assert.rejects(instances.heartbeat(pool, beat('not valid')), invalid)
  await assert.rejects(instances.create(pool, { id: `c-${u}`, provider: '' }), invalid)
  await assert.rejects(instances.create(pool, { id: `c-${u}`, provider: 'local', state: 'ready' as 'pending' }), invalid)
})
