import { test } from 'node:test'
import assert from 'node:assert/strict'
import { freePort, suffix } from '@federate/testkit'
import { calls, coreWriteKinds, createGroupCommitter, createPool, DbError, isConnectionError, results } from '../src/index.ts'
import { useMigratedDatabase } from './helpers.ts'

const db = useMigratedDatabase()

const end = (callId: string) => ({ callId, instanceId: 'i-1', cause: 'NORMAL_CLEARING', durationSec: 10, billSec: 8 })
const result = (callId: string, key = 'digits') => ({ callId, node: 'q1', key, value: '5' })
const notDurable = (err: unknown) => err instanceof DbError && err.code === 'FED_DB_NOT_DURABLE' && err.canRetry

test('500 concurrent writes commit in a few transactions, each acknowledged only once durable', async (t) => {
  const { pool, url } = db
  const u = suffix()
  const committer = createGroupCommitter(pool, { maxBatch: 200, maxDelayMs: 5, kinds: coreWriteKinds })
  t.after(() => committer.close())
  // A second pool sees only committed rows: each write must be visible the moment it resolves.
  const observer = createPool(url, { max: 1 })
  t.after(() => observer.close())

  const seenAtAck: boolean[] = []
  const writes = Array.from({ length: 500 }, (_, i) => i % 2 === 0
    ? committer.write('call.end', end(`${u}-c-${i}`)).then(async () => {
      if (i % 50 === 0) seenAtAck.push((await observer.query('SELECT 1 FROM calls WHERE call_id = $1', [`${u}-c-${i}`])).rowCount === 1)
    })
    : committer.write('call.result', result(`${u}-c-${i - 1}`)))
  await Promise.all(writes)

  const stats = committer.stats()
  assert.equal(stats.records, 500)
  t.diagnostic(`${stats.batches} transactions for 500 writes`)
  assert.ok(stats.batches < 50, `${stats.batches} transactions for 500 writes`)
  assert.ok(stats.batches >= 3, 'maxBatch was honoured')
  assert.equal(stats.failedBatches, 0)
  assert.ok(seenAtAck.length === 10 && seenAtAck.every(Boolean), 'rows were committed when their promise resolved')
  assert.equal((await pool.query("SELECT count(*)::int AS n FROM calls WHERE status = 'ended' AND call_id LIKE $1", [`${u}-%`])).rows[0].n, 250)
  assert.equal((await pool.query('SELECT count(*)::int AS n FROM call_results WHERE call_id LIKE $1', [`${u}-%`])).rows[0].n, 250)
})

test('a failing batch rejects every waiter with FED_DB_NOT_DURABLE and writes none of it; the next batch succeeds', async (t) => {
  const { pool } = db
  const u = suffix()
  const committer = createGroupCommitter(pool, { maxDelayMs: 20, kinds: coreWriteKinds })
  t.after(() => committer.close())
  committer.register('boom', async (client) => { await client.query('SELECT 1/0') })

  const batch = [
    ...Array.from({ length: 10 }, (_, i) => committer.write('call.result', result(`${u}-c-x`, `k${i}`))),
    committer.write('boom', {}),
    committer.write('call.end', end(`${u}-c-x`)),
  ]
  const outcomes = await Promise.allSettled(batch)
  assert.ok(outcomes.every((o) => o.status === 'rejected' && notDurable(o.reason)), 'every waiter rejected')
  assert.deepEqual(await results.listForCall(pool, `${u}-c-x`), [], 'rolled back')
  assert.equal(await calls.get(pool, `${u}-c-x`), null)
  assert.equal(committer.stats().failedBatches, 1)
  assert.equal(committer.stats().failedRecords, 12)

  // The agent resends: the same records now commit.
  await Promise.all([committer.write('call.result', result(`${u}-c-x`, 'k0')), committer.write('call.end', end(`${u}-c-x`))])
  assert.equal((await calls.get(pool, `${u}-c-x`))?.status, 'ended')
})

test('an apply that swallows its own error does not make an aborted transaction look committed', async (t) => {
  const { pool } = db
  const u = suffix()
  const committer = createGroupCommitter(pool, { kinds: coreWriteKinds })
  t.after(() => committer.close())
  committer.register('sloppy', async (client) => { await client.query('SELECT 1/0').catch(() => {}) })
  const outcomes = await Promise.allSettled([committer.write('sloppy', {}), committer.write('call.result', result(`${u}-c-1`))])
  assert.ok(outcomes.every((o) => o.status === 'rejected' && notDurable(o.reason)))
  assert.deepEqual(await results.listForCall(pool, `${u}-c-1`), [])
})

test('invalid records and unknown kinds fail alone without joining a batch', async (t) => {
  const { pool } = db
  const u = suffix()
  const committer = createGroupCommitter(pool, { kinds: coreWriteKinds })
  t.after(() => committer.close())
  const good = committer.write('call.result', result(`${u}-c-1`))
  await assert.rejects(committer.write('call.end', { ...end(`${u}-c-1`), durationSec: -5 }), (err: unknown) => err instanceof DbError && err.code === 'FED_DB_INVALID_INPUT')
  await assert.rejects(committer.write('call.nope', {}), (err: unknown) => err instanceof DbError && err.code === 'FED_DB_INVALID_INPUT')
  await good
  assert.equal(committer.stats().records, 1)
})

test('close() commits what is queued, waits for it, refuses later writes and is idempotent', async () => {
  const { pool } = db
  const u = suffix()
  const committer = createGroupCommitter(pool, { maxBatch: 1000, maxDelayMs: 60_000, kinds: coreWriteKinds })
  const writes = Array.from({ length: 20 }, (_, i) => committer.write('call.end', end(`${u}-c-${i}`)))
  assert.equal(committer.stats().pending, 20, 'nothing flushed yet: the delay is a minute')
  await committer.close()
  await Promise.all(writes)
  assert.equal(committer.stats().batches, 1)
  assert.equal((await pool.query('SELECT count(*)::int AS n FROM calls WHERE call_id LIKE $1', [`${u}-%`])).rows[0].n, 20)
  await assert.rejects(committer.write('call.end', end(`${u}-late`)), (err: unknown) => err instanceof DbError && err.code === 'FED_DB_CLOSED')
  await committer.close()
})

test('when PostgreSQL does not answer, writes fail fast with a retryable FED_DB_NOT_DURABLE', async (t) => {
  const pool = createPool(`postgres://postgres@127.0.0.1:${await freePort()}/nothing`, { max: 1, connectionTimeoutMs: 1000 })
  t.after(() => pool.close())
  const committer = createGroupCommitter(pool, { kinds: coreWriteKinds })
  t.after(() => committer.close())
  await assert.rejects(committer.write('call.end', end('c-1')), (err: unknown) => {
    assert.ok(notDurable(err))
    assert.ok(isConnectionError((err as Error).cause))
    return true
  })
})
