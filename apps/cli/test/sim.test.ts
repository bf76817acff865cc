import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'

// `federate sim` as a user runs it: a child process, flags, exit codes, the JSON summary.

const MAIN = new URL('../src/main.ts', import.meta.url).pathname

function run (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

test('federate sim runs inbound calls against a running agent and prints a JSON summary', async (t) => {
  // A minimal FastAGI agent: every step hangs the call up.
  let steps = 0
  const agent = createServer((socket) => {
    let buf = ''
    let started = false
    socket.on('error', () => {})
    socket.on('data', (d) => {
      buf += d.toString()
      if (!started && buf.includes('\n\n')) {
        started = true
        if (/agi_network_script: step/.test(buf)) {
          steps++
          socket.write(`SET VARIABLE FED_CALLID "c${steps}"\nSET VARIABLE FED_HANGUP_CAUSE 16\nSET VARIABLE FED_ACTION hangup\n`)
        } else {
          socket.end()
        }
      }
      if (started && (buf.match(/^200 /gm) ?? []).length >= 3) socket.end()
    })
  })
  await new Promise<void>((resolve) => agent.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => agent.close(() => resolve())))
  const addr = agent.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  const r = await run(['sim', '--instances', '2', '--capacity', '5', '--speed', '20', '--seed', '4', '--inbound-cps', '5', '--number', '+15550001000',
    '--agi-target', `127.0.0.1:${port}`, '--duration', '1.5', '--stats-every', '0', '--grace', '1', '--json'])
  assert.equal(r.code, 0, r.stderr)
  const summary = JSON.parse(r.stdout) as { instances: number, started: { inbound: number }, ended: Record<string, number>, agiErrors: number, active: number }
  assert.equal(summary.instances, 2)
  assert.ok(summary.started.inbound > 0, 'inbound calls arrived')
  const ended = Object.values(summary.ended).reduce((a, b) => a + b, 0)
  assert.equal(ended, summary.started.inbound, 'every call ended (by the flow, or cut at shutdown)')
  assert.ok(summary.ended.hangup! > 0)
  assert.equal(summary.agiErrors, 0)
  assert.equal(summary.active, 0)
  assert.ok(steps >= summary.ended.hangup!)
})

test('federate sim refuses bad flags with exit code 2', async () => {
  const bad = await run(['sim', '--instances', '0', '--token', 'x'])
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /--instances must be an integer/)
})

test('federate sim refuses a tokens file that is not an object of tokens, or misses an instance', async (t) => {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = await mkdtemp(join(tmpdir(), 'fedsim-tokens-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const list = join(dir, 'list.json')
  await writeFile(list, '["a", "b"]')
  const r1 = await run(['sim', '--instances', '2', '--tokens-file', list])
  assert.equal(r1.code, 2)
  assert.match(r1.stderr, /must be a JSON object of instance id -> token/)
  const partial = join(dir, 'partial.json')
  await writeFile(partial, JSON.stringify({ 't-1': 'tok1' }))
  const r2 = await run(['sim', '--instances', '2', '--id-prefix', 't-', '--tokens-file', partial])
  assert.equal(r2.code, 2)
  assert.match(r2.stderr, /no token for instance t-2/)
  const both = await run(['sim', '--token', 'x', '--tokens-file', partial])
  assert.equal(both.code, 2)
  assert.match(both.stderr, /exclude each other/)
})
