import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '@federate/config'
import { freePort } from '@federate/testkit'
import { CliError } from '../src/output.ts'
import { missingMessage, planInstall } from '../src/services/install.ts'
import { ServicesManager } from '../src/services/manager.ts'
import { probeMemcached, probePostgres, probeS3 } from '../src/services/probes.ts'
import { realSystem, type System } from '../src/services/system.ts'
import { servicesSpec, targetsFrom } from '../src/services/targets.ts'

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/federate'
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/** Settings pointing Memcached and S3 at free ports and the data root at a temporary directory. */
async function setup (t: { after: (fn: () => unknown) => void }, extra: Record<string, string> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'fed-services-'))
  const memcachedPort = await freePort()
  const s3Port = await freePort()
  const config = loadConfig(servicesSpec, {
    env: {
      DATABASE_URL,
      REDIS_URL,
      MEMCACHED_SERVERS: `127.0.0.1:${memcachedPort}`,
      S3_ENDPOINT: `http://127.0.0.1:${s3Port}`,
      S3_BUCKET: 'federate-test',
      FEDERATE_DATA_DIR: dataDir,
      ...extra,
    },
  })
  const lines: string[] = []
  const make = (sys?: System) => new ServicesManager(config, { sys, report: (l) => lines.push(l) })
  const manager = make()
  t.after(async () => {
    await manager.down({ purge: true })
    rmSync(dataDir, { recursive: true, force: true })
  })
  return { dataDir, memcachedPort, s3Port, manager, make, lines }
}

/** A TCP server that answers every connection with something no service speaks. */
async function impostor (port: number): Promise<Server> {
  const srv = createServer((s) => s.end('HELLO from something else\r\n'))
  await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', resolve))
  return srv
}

const noBinaries = (over: Partial<System> = {}): System => ({
  ...realSystem,
  which: (bin) => bin === 'memcached' || bin === 'redis-server' ? null : realSystem.which(bin),
  postgresBinDir: () => null,
  ...over,
})

test('status finds the running PostgreSQL and Redis and calls them external', async (t) => {
  const { manager } = await setup(t)
  const rows = await manager.status()
  const by = Object.fromEntries(rows.map((r) => [r.name, r]))
  assert.equal(by.postgres?.answering, true)
  assert.equal(by.postgres?.startedBy, 'external')
  assert.equal(by.redis?.answering, true)
  assert.equal(by.redis?.startedBy, 'external')
  assert.equal(by.memcached?.answering, false)
  assert.equal(by.memcached?.startedBy, null)
  assert.equal(by.s3?.answering, false)
})

test('up starts Memcached and s3rver, a second up changes nothing, and down stops only them', async (t) => {
  const { manager, memcachedPort, s3Port, dataDir } = await setup(t)

  const first = await manager.up()
  const by = Object.fromEntries(first.map((r) => [r.name, r]))
  assert.equal(by.postgres?.action, 'reused')
  assert.equal(by.postgres?.startedBy, 'external')
  assert.equal(by.redis?.action, 'reused')
  assert.equal(by.memcached?.action, 'started')
  assert.equal(by.memcached?.startedBy, 'federate')
  assert.equal(by.s3?.action, 'started')
  assert.match(by.s3?.dataDir ?? '', /s3$/)
  assert.equal((await probeMemcached('127.0.0.1', memcachedPort)).answering, true)
  assert.equal((await probeS3(`http://127.0.0.1:${s3Port}`)).answering, true)
  // The default bucket exists.
  const bucket = await fetch(`http://127.0.0.1:${s3Port}/federate-test`)
  assert.equal(bucket.status, 200)
  assert.ok(existsSync(join(dataDir, 'run', 'memcached.pid')))

  const second = await manager.up()
  assert.deepEqual(second.map((r) => r.action), ['reused', 'reused', 'reused', 'reused'])
  assert.deepEqual(second.map((r) => r.pid), first.map((r) => r.pid))

  const status = await manager.status()
  assert.deepEqual(status.map((r) => r.startedBy), ['external', 'external', 'federate', 'federate'])

  const down = await manager.down({ purge: true })
  const stopped = Object.fromEntries(down.map((r) => [r.name, r.action]))
  assert.deepEqual(stopped, { memcached: 'stopped', postgres: 'left alone (external)', redis: 'left alone (external)', s3: 'stopped' })
  assert.equal((await probeMemcached('127.0.0.1', memcachedPort)).answering, false)
  assert.equal((await probeS3(`http://127.0.0.1:${s3Port}`)).answering, false)
  assert.equal(existsSync(join(dataDir, 's3')), false, 'purge deletes the s3 data')
  assert.equal((await probePostgres(DATABASE_URL)).answering, true, 'the external PostgreSQL is left alone')
  assert.deepEqual((await manager.down()).map((r) => r.action), ['not running', 'left alone (external)', 'left alone (external)', 'not running'])
})

test('up without root and a missing server says which package to install and exits 3', async (t) => {
  const { make, dataDir } = await setup(t)
  const sys = noBinaries({ isRoot: () => false, hasAptGet: () => true })
  await assert.rejects(make(sys).up(), (err: unknown) => {
    assert.ok(err instanceof CliError)
    assert.equal(err.exitCode, 3)
    assert.equal(err.message, 'Memcached is not installed (no memcached found). Install the Debian package memcached: ' +
      'sudo apt-get install -y memcached — or set MEMCACHED_SERVERS to a Memcached server that is already running.')
    return true
  })
  assert.equal(existsSync(join(dataDir, 'run')), false, 'nothing was started')
})

test('the install decision: root with apt-get installs, anything else explains', () => {
  const root = noBinaries({ isRoot: () => true, hasAptGet: () => true })
  assert.deepEqual(planInstall(['postgres', 'redis', 'memcached'], root), { packages: ['postgresql', 'redis-server', 'memcached'] })
  assert.deepEqual(planInstall([], noBinaries({ isRoot: () => false })), { packages: [] })

  const noApt = noBinaries({ isRoot: () => true, hasAptGet: () => false })
  assert.throws(() => planInstall(['postgres'], noApt), (err: CliError) =>
    err.exitCode === 3 && err.message === missingMessage('postgres', noApt))
  assert.equal(missingMessage('postgres', noApt), 'PostgreSQL is not installed (no pg_ctl and initdb found). Install postgresql with ' +
    'your system\'s package manager (Debian/Ubuntu: sudo apt-get install -y postgresql) — or set DATABASE_URL to a PostgreSQL server that is already running.')

  const user = noBinaries({ isRoot: () => false, hasAptGet: () => true })
  assert.throws(() => planInstall(['redis', 'memcached'], user), (err: CliError) =>
    err.message.split('\n').length === 2 && err.message.includes('sudo apt-get install -y redis-server'))
})

test('up refuses a port held by something that does not speak the protocol', async (t) => {
  const { make, memcachedPort, s3Port } = await setup(t)
  const servers = [await impostor(memcachedPort), await impostor(s3Port)]
  t.after(() => { for (const s of servers) s.close() })
  await assert.rejects(make().up(), (err: CliError) => {
    assert.equal(err.exitCode, 3)
    assert.match(err.message, new RegExp(`^memcached: 127\\.0\\.0\\.1:${memcachedPort} is in use by something that does not answer as Memcached`, 'm'))
    assert.match(err.message, new RegExp(`^s3: 127\\.0\\.0\\.1:${s3Port} is in use by something that does not answer as S3`, 'm'))
    return true
  })
})

test('targets come from the apps\' settings, and only loopback addresses are managed', () => {
  const config = loadConfig(servicesSpec, {
    env: {
      DATABASE_URL: 'postgres://app:secret@db.example.internal/app',
      REDIS_URL: 'redis://localhost:6380/2',
      MEMCACHED_SERVERS: '127.0.0.1:11311,[::1]:11312',
      S3_ENDPOINT: 'http://127.0.0.2:9100',
    },
  })
  assert.deepEqual(targetsFrom(config).map((x) => [x.name, x.host, x.port, x.local]), [
    ['postgres', 'db.example.internal', 5432, false],
    ['redis', 'localhost', 6380, true],
    ['memcached', '127.0.0.1', 11311, true],
    ['memcached-2', '::1', 11312, true],
    ['s3', '127.0.0.2', 9100, true],
  ])
  const off = loadConfig(servicesSpec, { env: { CACHE_ENABLED: 'false' } })
  assert.deepEqual(targetsFrom(off).map((x) => x.name), ['postgres', 'redis', 's3'])
  assert.throws(() => loadConfig(servicesSpec, { env: { MEMCACHED_SERVERS: 'localhost' } }), /MEMCACHED_SERVERS/)
})
