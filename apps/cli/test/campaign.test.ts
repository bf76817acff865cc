import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createPool, flows as flowsRepo, migrate } from '@federate/db'
import { createTestDatabase, suffix } from '@federate/testkit'
import { DialerError } from '@federate/dialer'
import { cliErrorOf, parseRetry, parseWindow } from '../src/commands/campaign.ts'
import { CliError } from '../src/output.ts'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const poll = JSON.parse(await readFile(join(root, 'examples/flows/poll.json'), 'utf8'))

async function federate (args: string[], env: Record<string, string>): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/cli/src/main.ts', ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => { stdout += d })
  child.stderr.on('data', (d) => { stderr += d })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, stdout, stderr }
}

test('campaign options read windows, days and retry rules, and refuse bad ones saying the expected form', () => {
  assert.deepEqual(parseWindow('09:00-21:00'), { start: '09:00', end: '21:00' })
  assert.deepEqual(parseWindow('22:00-02:00', '1-3,5'), { start: '22:00', end: '02:00', days: [1, 2, 3, 5] })
  assert.throws(() => parseWindow('9-21'), /HH:MM-HH:MM/)
  assert.throws(() => parseWindow('09:00-21:00', '7'), /0 \(Sunday\) to 6/)
  assert.deepEqual(parseRetry('busy=300,noanswer=1800*2,machine=no'), {
    busy: { retry: true, delaySec: 300 },
    noanswer: { retry: true, delaySec: 1800, backoff: 2 },
    machine: { retry: false },
  })
  assert.throws(() => parseRetry('answered=10'), /busy, noanswer, failed, machine, lost/)
  assert.throws(() => parseRetry('busy=soon'), /outcome=seconds/)
})

test('dialer errors become CLI errors that say what to do, with usage errors exiting 2', () => {
  const missing = cliErrorOf(new DialerError('FED_DIALER_NOT_FOUND', 'campaign nope'), { campaignId: 'nope' })
  assert.ok(missing instanceof CliError)
  assert.equal(missing.exitCode, 2)
  assert.equal(missing.message, 'no campaign nope: list them with `federate campaign list`')
  const down = cliErrorOf(new DialerError('FED_DIALER_UNAVAILABLE', 'redis')) as CliError
  assert.equal(down.exitCode, 3)
  const other = new Error('boom')
  assert.equal(cliErrorOf(other), other, 'anything else is left as it is')
})

test('federate campaign and contacts work on PostgreSQL directly: bad rows exit 2 with their lines while good rows load', async (t) => {
  const db = await createTestDatabase('fedcli')
  t.after(() => db.drop())
  await migrate(db.url)
  const pool = createPool(db.url, { max: 2 })
  t.after(() => pool.close())
  await flowsRepo.createOrGetFlow(pool, 'poll', 'Poll')
  await flowsRepo.publishVersion(pool, 'poll', poll)
  const env = { DATABASE_URL: db.url, DIALER_PREFIX: `t${suffix()}` }
  const dir = await mkdtemp(join(tmpdir(), 'fedcli-'))
  t.after(() => rm(dir, { recursive: true, force: true }))

  const common = ['--caller-id', '+15550001111', '--rate', '2', '--max-concurrent', '5']
  const [unknownFlow, created] = await Promise.all([
    federate(['campaign', 'create', '--name', 'X', '--flow', 'nope', ...common], env),
    federate(['campaign', 'create', '--id', 'spring', '--name', 'Spring', '--flow', 'poll', ...common,
      '--window', '10:00-19:30', '--days', '1-5', '--retry', 'busy=120,machine=no', '--max-attempts', '4', '--json'], env),
  ])
  assert.equal(unknownFlow.code, 2, unknownFlow.stderr)
  assert.match(unknownFlow.stderr, /no flow nope: publish it with `federate flows push <file\.json> --id nope`/)
  assert.equal(created.code, 0, created.stderr)
  const c = JSON.parse(created.stdout)
  assert.equal(c.id, 'spring')
  assert.equal(c.status, 'draft')
  assert.deepEqual(c.window, { start: '10:00', end: '19:30', days: [1, 2, 3, 4, 5] })
  assert.deepEqual(c.retryPolicy.busy, { retry: true, delaySec: 120 })
  assert.equal(c.retryPolicy.machine.retry, false)
  assert.equal(c.maxAttempts, 4)

  const file = join(dir, 'contacts.csv')
  await writeFile(file, [
    'phone,first,tz', // 1
    '+12125550101,Ann,UTC', // 2
    'not-a-number,Bob,', // 3
    '2125550102,Cat,', // 4: national, US by --default-country
    '+12125550101,Ann again,', // 5: duplicate
    '+12125550103,Dan,Nowhere/City', // 6: unknown zone
  ].join('\n') + '\n')
  const imported = await federate(['contacts', 'import', file, '--campaign', 'spring', '--default-country', 'US'], env)
  assert.equal(imported.code, 2, imported.stderr)
  assert.match(imported.stdout, new RegExp(`${file.replaceAll('/', '\\/')}:3: not a phone number`))
  assert.match(imported.stdout, /:6: unknown time zone "Nowhere\/City"/)
  assert.match(imported.stdout, /spring: imported 2, 1 duplicates, 0 on the do-not-call list, 2 bad rows/)
  const rows = await pool.query('SELECT phone_e164 FROM contacts WHERE campaign_id = $1 ORDER BY 1', ['spring'])
  assert.deepEqual(rows.rows.map((r) => r.phone_e164), ['+12125550101', '+12125550102'])

  const out = join(dir, 'export.csv')
  const [status, paused, exported] = await Promise.all([
    federate(['campaign', 'status', 'spring', '--json'], env),
    federate(['campaign', 'pause', 'spring'], env),
    federate(['campaign', 'export', 'spring', '--out', out], env),
  ])
  assert.equal(status.code, 0, status.stderr)
  const s = JSON.parse(status.stdout)
  assert.equal(s.campaign.id, 'spring')
  assert.equal(s.stats.contacts.total, 2)
  assert.equal(s.stats.contacts.pending, 2)
  assert.equal(s.stats.attempts, 0)
  assert.equal(exported.code, 0, exported.stderr)
  assert.match(exported.stderr, /exported 0 attempts to .*export\.csv/)
  assert.match(await readFile(out, 'utf8'), /^attempt_id,call_id,campaign_id,/)
  assert.equal(paused.code, 1, 'a draft cannot be paused')
  assert.match(paused.stderr, /cannot pause campaign spring: it is draft \(see `federate campaign status spring`\)/)
})
