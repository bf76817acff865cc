import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { databaseUrl, freePort, suffix } from '@federate/testkit'

const commandFile = fileURLToPath(new URL('../src/commands/migrate.ts', import.meta.url))
const outputFile = fileURLToPath(new URL('../src/output.ts', import.meta.url))

// Runs `federate migrate <args>` with only this command registered (other commands stay out of it).
async function federateMigrate (args: string[], env: Record<string, string> = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const script = `
    import { Command } from 'commander'
    const { register } = await import(${JSON.stringify(commandFile)})
    const { fail } = await import(${JSON.stringify(outputFile)})
    const program = new Command('federate').exitOverride()
    register(program)
    try { await program.parseAsync(['node', 'federate', ...${JSON.stringify(args)}]) } catch (err) { fail(err) }`
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env },
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => { stdout += d })
  child.stderr.on('data', (d) => { stderr += d })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, stdout, stderr }
}

async function dropDatabase (name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: databaseUrl('postgres') })
  await admin.connect()
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
  } finally {
    await admin.end()
  }
}

test('federate migrate creates the database and applies the schema, then says it is up to date', async (t) => {
  const name = `fedtest_cli_${suffix()}`
  t.after(() => dropDatabase(name))
  const url = databaseUrl(name)
  const first = await federateMigrate(['migrate', '--database-url', url, '--json'])
  assert.equal(first.code, 0, first.stderr)
  const result = JSON.parse(first.stdout)
  assert.equal(result.database, `127.0.0.1:5432/${name}`)
  assert.equal(result.direction, 'up')
  assert.ok(result.applied.includes('0001_core') && result.applied.includes('0002_auth'))

  const second = await federateMigrate(['migrate'], { DATABASE_URL: url })
  assert.equal(second.code, 0, second.stderr)
  assert.equal(second.stdout, `127.0.0.1:5432/${name}: schema up to date\n`)
})

test('federate migrate exits 3 naming host:port, never the password, when PostgreSQL does not answer', async () => {
  const port = await freePort()
  const { code, stdout, stderr } = await federateMigrate(['migrate'], { DATABASE_URL: `postgres://fed:hunter2-secret@127.0.0.1:${port}/federate` })
  assert.equal(code, 3)
  assert.equal(stdout, '')
  assert.match(stderr, new RegExp(`PostgreSQL at 127\\.0\\.0\\.1:${port}/federate does not answer`))
  assert.doesNotMatch(stderr, /hunter2/)
})

test('federate migrate exits 2 for a URL that is not PostgreSQL\'s, without echoing it', async () => {
  const { code, stderr } = await federateMigrate(['migrate', '--database-url', 'mysql://root:pw-visible@db/x'])
  assert.equal(code, 2)
  assert.match(stderr, /--database-url/)
  assert.doesNotMatch(stderr, /pw-visible/)
})
