import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TestContext } from 'node:test'
import type { Agent, RpcClient } from '@federate/agent'
import type { Queryable } from '@federate/db'
import { createSimulation, writeRecording, type SimStats, type Simulation, type SimulationOptions } from '@federate/sim'
import { freePort, suffix, waitFor } from '@federate/testkit'
import type { TestServer } from './server.ts'

// Building blocks of the end-to-end tests (test/e2e/): flows published over REST, a simulated
// fleet whose instances each run a real agent with their own token, what the database holds
// about their calls, an app server as a child process (so it can be SIGKILLed), and a tap on
// the agents' tier clients that times every attempt.

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** A flow document from examples/flows/. */
export async function exampleFlow (name: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(ROOT, 'examples', 'flows', `${name}.json`), 'utf8')) as Record<string, unknown>
}

/** Publishes a flow through the REST API (admin key) and binds numbers to it. */
export async function publishFlow (server: Pick<TestServer, 'url' | 'adminKey'>, id: string, definition: unknown, numbers: string[]): Promise<{ flowId: string, version: number }> {
  const res = await fetch(`${server.url}/api/v1/flows`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, definition, numbers }),
  })
  const body = await res.json() as { flowId: string, version: number, numbers: string[] }
  assert.equal(res.status, 201, `publishing ${id}: ${JSON.stringify(body)}`)
  assert.deepEqual([...body.numbers].sort(), [...numbers].sort())
  return body
}

export interface E2eSim {
  sim: Simulation
  /** The real agents, one per instance (createSimulation types them narrowly). */
  agents: Agent[]
  ids: string[]
  workDir: string
  stats: () => SimStats
  /** Places `n` inbound calls on `number`, round-robin over the instances; returns how many were taken. */
  place: (n: number, number: string) => number
  stop: () => Promise<void>
}

export type E2eSimOptions = Omit<SimulationOptions, 'workDir' | 'token' | 'idPrefix' | 'ids'> & {
  /** Instance ids are `${prefix}-${i + 1}` (prefix gets a random suffix). */
  prefix: string
  tokenFor: (instanceId: string) => Promise<string>
}

/**
 * A simulated fleet with one real agent per instance, each holding its own instance token,
 * in a private work folder; stopped and removed when the test ends.
 */
export async function startSim (t: TestContext, o: E2eSimOptions): Promise<E2eSim> {
  const workDir = await mkdtemp(join(tmpdir(), `fede2e-${o.prefix}-`))
  const base = `${o.prefix}-${suffix()}`
  const ids = Array.from({ length: o.instances }, (_, i) => `${base}-${i + 1}`)
  const tokens: Record<string, string> = {}
  for (const id of ids) tokens[id] = await o.tokenFor(id)
  const { prefix: _p, tokenFor: _t, ...rest } = o
  // FEDERATE_STORAGE is off in these tests: no audio manifest to sync, no recording uploads
  // (recordings stay on the instance's disk, where the tests look at them).
  const agentSettings = { audioSync: false, recordingUpload: false, ...rest.agentSettings }
  const sim = createSimulation({ checkPrompts: false, agentCloseGraceMs: 1000, ...rest, agentSettings, ids, workDir, token: tokens })
  let stopped: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopped ??= sim.stop({ graceMs: 0 }).finally(() => rm(workDir, { recursive: true, force: true }))
    return stopped
  }
  t.after(stop)
  await sim.start()
  let next = 0
  return {
    sim,
    agents: sim.agents as unknown as Agent[],
    ids,
    workDir,
    stats: () => sim.fleet.stats(),
    place (n, number) {
      let placed = 0
      for (let i = 0; i < n; i++) {
        const inst = sim.fleet.instances[next++ % sim.fleet.instances.length]!
        if (inst.placeInbound({ number })) placed++
      }
      return placed
    },
    stop,
  }
}

/**
 * Writes prompts (names as in a flow, e.g. `hold/welcome`) as short WAV files where the
 * instance's agent resolves them: `<id>/sounds/federate/` (the audio-sync layout) when the
 * simulation made that folder, else `<id>/sounds/`.
 */
export async function writePrompts (e: E2eSim, names: string[]): Promise<void> {
  for (const id of e.ids) {
    const sounds = join(e.workDir, id, 'sounds')
    const base = existsSync(join(sounds, 'federate')) ? join(sounds, 'federate') : sounds
    for (const name of names) {
      const file = join(base, `${name}.wav`)
      await mkdir(dirname(file), { recursive: true })
      await writeRecording(file, 'wav', 1)
    }
  }
}

export interface CallRow {
  call_id: string
  instance_id: string
  direction: string | null
  number: string | null
  flow_id: string | null
  status: string
  cause: string | null
  duration_sec: number | null
  bill_sec: number | null
}

/** The calls rows of some instances. */
export async function callRows (db: Queryable, instanceIds: string[]): Promise<CallRow[]> {
  const { rows } = await db.query<CallRow>(
    'SELECT call_id, instance_id, direction, number, flow_id, status, cause, duration_sec, bill_sec FROM calls WHERE instance_id = ANY($1) ORDER BY call_id',
    [instanceIds])
  return rows
}

/** Each call's results as `key -> value` (the dialer's `_amd` copy left out). */
export async function resultsByCall (db: Queryable, callIds: string[]): Promise<Map<string, Record<string, string>>> {
  const { rows } = await db.query<{ call_id: string, node: string, key: string, value: string }>(
    'SELECT call_id, node, key, value FROM call_results WHERE call_id = ANY($1)', [callIds])
  const out = new Map<string, Record<string, string>>(callIds.map((id) => [id, {}]))
  for (const r of rows) {
    if (r.node === '_amd') continue
    const m = out.get(r.call_id) ?? {}
    m[r.key] = r.value
    out.set(r.call_id, m)
  }
  return out
}

export interface ChildServer {
  port: number
  url: string
  rpcUrl: string
  child: ChildProcess
  /** Resolves with the exit signal or code. */
  exited: Promise<string>
  /** What the child wrote to stderr (for failure messages). */
  stderr: () => string
  kill: (signal: NodeJS.Signals) => Promise<string>
}

/**
 * `federate serve` as a child process over an existing (migrated) database, ready when /healthz
 * answers; killed (SIGKILL) at the end of the test if still alive.
 */
export async function startChildServer (t: TestContext, o: { databaseUrl: string, port?: number, env?: Record<string, string> }): Promise<ChildServer> {
  const port = o.port ?? await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'apps/cli/src/main.ts'), 'serve', '--port', String(port)], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: o.databaseUrl,
      LOG_LEVEL: 'warn',
      CACHE_PREFIX: `c${suffix()}`,
      FEDERATE_DIALER: 'false',
      FEDERATE_STORAGE: 'false',
      ...o.env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let err = ''
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { if (err.length < 20_000) err += d })
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => { resolve(signal ?? String(code)) }))
  const kill = async (signal: NodeJS.Signals): Promise<string> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    return await exited
  }
  t.after(() => kill('SIGKILL'))
  const url = `http://127.0.0.1:${port}`
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`federate serve exited with ${child.exitCode}: ${err}`)
    return (await fetch(`${url}/healthz`)).status === 200
  }, { timeoutMs: 30_000, intervalMs: 50, what: `federate serve on port ${port}` })
  return { port, url, rpcUrl: `${url}/RPC2`, child, exited, stderr: () => err, kill }
}

/** One XML-RPC attempt an agent made to one app server. */
export interface Attempt {
  /** Index of the agent in the list given to tapTier. */
  agent: number
  server: string
  method: string
  params: Record<string, unknown>
  startedAt: number
  endedAt?: number
  ok?: boolean
  error?: string
}

/** Attempts grouped by the call they belong to (one tier call = one params object). */
export interface TierCall { method: string, params: Record<string, unknown>, attempts: Attempt[] }

export interface TierTap {
  attempts: Attempt[]
  /** Every tier call, in order of its first attempt. */
  calls: () => TierCall[]
}

/**
 * Times every attempt the agents' tier clients make, per server. The tier client keeps its
 * servers private; the tap wraps each server's XML-RPC client in place (a test instrument only).
 */
export function tapTier (agents: Agent[]): TierTap {
  const attempts: Attempt[] = []
  const byParams = new Map<object, TierCall>()
  const order: TierCall[] = []
  for (const [index, agent] of agents.entries()) {
    const servers = (agent.tier as unknown as { servers?: Array<{ url: string, client: RpcClient }> }).servers
    assert.ok(Array.isArray(servers) && servers.every((s) => typeof s.client?.call === 'function'), 'the tier client no longer keeps servers[].client; update tapTier')
    for (const s of servers) {
      const inner = s.client.call.bind(s.client)
      s.client.call = async (method, params) => {
        const a: Attempt = { agent: index, server: s.url, method, params, startedAt: performance.now() }
        attempts.push(a)
        let call = byParams.get(params)
        if (call === undefined) {
          call = { method, params, attempts: [] }
          byParams.set(params, call)
          order.push(call)
        }
        call.attempts.push(a)
        try {
          const r = await inner(method, params)
          a.ok = true
          return r
        } catch (err) {
          a.ok = false
          a.error = (err as { code?: string }).code ?? (err as Error).message
          throw err
        } finally {
          a.endedAt = performance.now()
        }
      }
    }
  }
  return { attempts, calls: () => order }
}

/** The q-quantile (0..1) of some numbers (nearest rank); NaN when empty. */
export function quantile (xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!
}
