import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { loadConfig } from '@federate/config'
import { suffix } from '@federate/testkit'
import { startTestServer, type TestServer } from '../../../test/helpers/server.ts'
import { agentSettings, type AgentConfig } from '../src/settings.ts'

// What the audio-sync and recordings tests share: a real app server with storage on (S3 = an
// s3rver started in-process), prompt uploads through its REST API, agent folders laid out as
// on an instance, and a TCP relay that can take "the server" down and bring it back.

export { startS3rver } from '../../../packages/storage/test/helpers.ts'
export { wav } from '../../../packages/storage/test/fixtures.ts'

export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

export async function startStorageServer (t: TestContext, s3Endpoint: string): Promise<TestServer> {
  return await startTestServer(t, { FEDERATE_STORAGE: 'true', S3_ENDPOINT: s3Endpoint, S3_BUCKET: `fed-${suffix()}` })
}

/** PUT /api/v1/prompts/<name> (operators' REST API); returns the new manifest version. */
export async function uploadPrompt (server: TestServer, name: string, audio: Buffer): Promise<number> {
  const res = await fetch(`${server.url}/api/v1/prompts/${name}`, {
    method: 'PUT',
    body: audio,
    headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'audio/wav' },
  })
  if (res.status !== 201 && res.status !== 200) throw new Error(`upload ${name}: HTTP ${res.status} ${await res.text()}`)
  return ((await res.json()) as { version: number }).version
}

export async function deletePrompt (server: TestServer, name: string): Promise<void> {
  const res = await fetch(`${server.url}/api/v1/prompts/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${server.adminKey}` } })
  if (res.status !== 204) throw new Error(`delete ${name}: HTTP ${res.status} ${await res.text()}`)
}

export async function tempDir (t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fed-agent-audio-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** An instance's folders under `base`: sounds root, prompts (`sounds/federate`), recordings, spool. */
export function folders (base: string) {
  return {
    soundsRoot: join(base, 'sounds'),
    soundsDir: join(base, 'sounds', 'federate'),
    recordingsDir: join(base, 'recordings'),
    spoolDir: join(base, 'spool'),
  }
}

/** An agent config talking to `servers`, with sync and uploads on and fast timers. */
export function storageAgentConfig (base: string, servers: string[], instanceId: string, token: string, more: Record<string, unknown> = {}): AgentConfig {
  const f = folders(base)
  return loadConfig(agentSettings, {
    env: {},
    file: {
      servers,
      instanceId,
      instanceToken: token,
      agiPort: 0,
      amiEnabled: false,
      heartbeatMs: 50,
      callTimeoutMs: 2000,
      connectTimeoutMs: 300,
      breakerCooldownMs: 100,
      spoolRetryMs: 50,
      soundsDir: f.soundsDir,
      recordingsDir: f.recordingsDir,
      spoolDir: f.spoolDir,
      syncRetryMs: 50,
      uploadRetryMs: 50,
      uploadCloseWaitMs: 0,
      logLevel: 'silent',
      ...more,
    },
  })
}

export interface Relay {
  url: string
  up: () => Promise<void>
  down: () => Promise<void>
  close: () => Promise<void>
}

/** A TCP relay to `target` (host:port) on a fixed port: down() refuses connections and cuts open ones. */
export async function startRelay (t: TestContext, target: URL): Promise<Relay> {
  const sockets = new Set<Socket>()
  let server: Server | null = null
  let port = 0
  const up = async (): Promise<void> => {
    if (server) return
    const s = createServer((client) => {
      const upstream = connect({ host: target.hostname, port: Number(target.port) })
      sockets.add(client)
      sockets.add(upstream)
      const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream) }
      client.on('error', drop).on('close', drop)
      upstream.on('error', drop).on('close', drop)
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(port, '127.0.0.1', () => { resolve() }) })
    const addr = s.address()
    port = typeof addr === 'object' && addr ? addr.port : port
    server = s
  }
  const down = async (): Promise<void> => {
    const s = server
    server = null
    for (const sock of sockets) sock.destroy()
    sockets.clear()
    if (s) await new Promise<void>((resolve) => { s.close(() => { resolve() }) })
  }
  await up()
  t.after(down)
  return { url: `http://127.0.0.1:${port}${target.pathname}`, up, down, close: down }
}
