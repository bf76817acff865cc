// pnpm bench:agent — what one dialplan step costs on the instance: the federate agent (one
// long-lived FastAGI process) against what Asterisk users often reach for, a plain AGI script
// spawned once per step. Both talk to the same XML-RPC app tier (a stub on the real plugin),
// driven by the same simulated Asterisk side, in the same run. CPU is the agent process's own
// CPU time (/proc) and, for the scripts, the CPU of the spawned processes (children's times).
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import { createXmlRpcRegistry, xmlrpcPlugin } from '@federate/xmlrpc'
import { freePort } from '@federate/testkit'
import { table } from './lib.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const AGENT_STEPS = Number(process.env.BENCH_AGENT_STEPS ?? 3000)
const SCRIPT_STEPS = Number(process.env.BENCH_SCRIPT_STEPS ?? 120)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8)

const TICK = 100 // USER_HZ on Linux
function cpuMsOf (pid: number | 'self'): { own: number, children: number } {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // Fields after the command: state(3) ... utime(14) stime(15) cutime(16) cstime(17), 1-based.
  const n = (i: number) => Number(f[i - 3])
  return { own: (n(14) + n(15)) * 1000 / TICK, children: (n(16) + n(17)) * 1000 / TICK }
}

function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!
}

async function tier (): Promise<{ url: string, close: () => Promise<void> }> {
  const registry = createXmlRpcRegistry()
  registry.implement('call.step', (p) => ({ action: 'wait', args: { seconds: 1 }, state: `s.${p.callId}.${p.event}` }))
  registry.implement('instance.heartbeat', () => ({ commands: [], manifestVersion: 0 }))
  registry.implement('call.end', () => ({ ok: true }))
  registry.implement('dialer.next', () => [])
  const app = Fastify({ logger: false })
  await app.register(xmlrpcPlugin, { registry })
  const port = await freePort()
  await app.listen({ host: '127.0.0.1', port })
  return { url: `http://127.0.0.1:${port}/RPC2`, close: async () => { await app.close() } }
}

const ENV = 'agi_network: yes\nagi_network_script: step\nagi_channel: PJSIP/carrier-00000001\nagi_language: en\nagi_uniqueid: 1700000000.1\n' +
  'agi_callerid: +15550001111\nagi_dnid: 5550000\nagi_context: federate-loop\nagi_extension: step\nagi_priority: 4\n'

/** Answers AGI commands on a line stream as Asterisk would; resolves when the peer is done. */
function converse (write: (s: string) => void, onLine: (cb: (line: string) => void) => void): void {
  onLine((line) => {
    if (line.startsWith('GET VARIABLE')) write('200 result=1 (s.prev)\n')
    else if (line.startsWith('SET VARIABLE')) write('200 result=1\n')
    else write('510 Invalid or unknown command\n')
  })
}

async function fastAgiStep (port: number, i: number): Promise<void> {
  const socket = connect({ host: '127.0.0.1', port })
  socket.setEncoding('utf8')
  socket.write(`${ENV}agi_arg_1: waited\nagi_arg_2: call-${i}\n\n`)
  let buf = ''
  await new Promise<void>((resolve, reject) => {
    converse((s) => socket.write(s), (cb) => socket.on('data', (chunk: string) => {
      buf += chunk
      let nl
      while ((nl = buf.indexOf('\n')) !== -1) { cb(buf.slice(0, nl)); buf = buf.slice(nl + 1) }
    }))
    socket.on('end', () => { socket.end(); resolve() })
    socket.on('error', reject)
  })
}

async function scriptStep (tierUrl: string, i: number): Promise<void> {
  const child = spawn(process.execPath, [join(root, 'scripts/bench/agi-script.mjs')], { env: { TIER_URL: tierUrl, PATH: process.env.PATH ?? '' }, stdio: ['pipe', 'pipe', 'inherit'] })
  child.stdout.setEncoding('utf8')
  child.stdin.write(`${ENV}agi_arg_1: waited\nagi_arg_2: call-${i}\n\n`)
  let buf = ''
  converse((s) => { if (!child.stdin.destroyed) child.stdin.write(s) }, (cb) => child.stdout.on('data', (chunk: string) => {
    buf += chunk
    let nl
    while ((nl = buf.indexOf('\n')) !== -1) { cb(buf.slice(0, nl)); buf = buf.slice(nl + 1) }
  }))
  child.stdin.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    child.on('exit', (code) => { code === 0 ? resolve() : reject(new Error(`AGI script exited with ${code}`)) })
  })
}

async function run (n: number, concurrency: number, step: (i: number) => Promise<void>): Promise<{ latencies: number[], wallMs: number }> {
  const latencies: number[] = []
  let next = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++
      const t0 = performance.now()
      await step(i)
      latencies.push(performance.now() - t0)
    }
  }))
  return { latencies: latencies.sort((a, b) => a - b), wallMs: performance.now() - started }
}

const t = await tier()
const agiPort = await freePort()
const agent = spawn(process.execPath, ['--import', 'tsx', join(root, 'apps/agent/src/main.ts')], {
  env: {
    ...process.env,
    FEDERATE_SERVERS: t.url,
    FEDERATE_INSTANCE_ID: 'bench-1',
    FEDERATE_INSTANCE_TOKEN: 't',
    FEDERATE_AGI_PORT: String(agiPort),
    FEDERATE_AMI_ENABLED: 'false',
    // The stub tier answers call.step only: no prompts to sync, no recordings to upload.
    FEDERATE_AUDIO_SYNC: 'false',
    FEDERATE_RECORDING_UPLOAD: 'false',
    FEDERATE_HEARTBEAT_MS: '600000',
    FEDERATE_SPOOL_DIR: mkdtempSync(join(tmpdir(), 'bench-agent-')),
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
})
try {
  for (let i = 0; ; i++) {
    try {
      await fastAgiStep(agiPort, -1)
      break
    } catch {
      if (i > 300) throw new Error('the agent did not start')
      await sleep(100)
    }
  }
  await run(200, CONCURRENCY, (i) => fastAgiStep(agiPort, i)) // warm-up (JIT, keep-alive sockets)
  const a0 = cpuMsOf(agent.pid!)
  const fast = await run(AGENT_STEPS, CONCURRENCY, (i) => fastAgiStep(agiPort, i))
  const a1 = cpuMsOf(agent.pid!)

  const c0 = cpuMsOf('self')
  const spawned = await run(SCRIPT_STEPS, Math.min(CONCURRENCY, 4), (i) => scriptStep(t.url, i))
  const c1 = cpuMsOf('self')

  const row = (name: string, n: number, r: { latencies: number[], wallMs: number }, cpuMs: number) => ({
    'per step': name,
    steps: n,
    'p50 ms': percentile(r.latencies, 0.5).toFixed(2),
    'p99 ms': percentile(r.latencies, 0.99).toFixed(2),
    'steps/s': Math.round(n / (r.wallMs / 1000)),
    'CPU ms/step (instance side)': (cpuMs / n).toFixed(3),
  })
  const rows = [
    row('federate agent (FastAGI, long-lived)', AGENT_STEPS, fast, a1.own - a0.own),
    row('AGI script spawned per step (node)', SCRIPT_STEPS, spawned, c1.children - c0.children),
  ]
  console.log(`\nagent vs per-step AGI script, same tier stub, concurrency ${CONCURRENCY} (scripts: ${Math.min(CONCURRENCY, 4)}), ${new Date().toISOString()}\n`)
  console.log(table(rows))
  const ratio = (Number(rows[1]!['CPU ms/step (instance side)']) / Math.max(0.001, Number(rows[0]!['CPU ms/step (instance side)'])))
  console.log(`\nCPU per step: the spawned script costs ${ratio.toFixed(0)}x the agent.`)
} finally {
  agent.kill('SIGTERM')
  await new Promise((resolve) => agent.once('exit', resolve))
  await t.close()
}
