import { connect, createServer, type Server, type Socket } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import { loadConfig } from '@federate/config'
import type { ParamsOf, ResultOf } from '@federate/protocol'
import { createXmlRpcRegistry, xmlrpcPlugin } from '@federate/xmlrpc'
import { agentSettings, type AgentConfig } from '../src/settings.ts'

// Test doubles that speak the real protocols: an app tier on the real XML-RPC plugin, an
// Asterisk side that opens FastAGI connections and answers AGI commands as res_agi does, and an
// AMI server. No mocks of the agent's own parts.

type Handler<M extends 'call.step' | 'call.end' | 'instance.heartbeat' | 'dialer.next'> = (p: ParamsOf<M>) => ResultOf<M> | Promise<ResultOf<M>>

export interface TierImpl {
  step?: Handler<'call.step'>
  end?: Handler<'call.end'>
  heartbeat?: Handler<'instance.heartbeat'>
  next?: Handler<'dialer.next'>
}

export interface TestTier {
  url: string
  calls: Array<{ method: string, params: any }>
  impl: TierImpl
  close: () => Promise<void>
}

/** A real Fastify app tier with the @federate/xmlrpc plugin on 127.0.0.1 (any port). */
export async function startTier (impl: TierImpl = {}, port = 0): Promise<TestTier> {
  const calls: TestTier['calls'] = []
  const registry = createXmlRpcRegistry()
  const record = (method: string, params: unknown) => { calls.push({ method, params: JSON.parse(JSON.stringify(params)) }) }
  registry
    .implement('call.step', async (p) => { record('call.step', p); return await (impl.step ?? (() => ({ action: 'hangup', args: { cause: 16 }, state: 's' })))(p) })
    .implement('call.end', async (p) => { record('call.end', p); return await (impl.end ?? (() => ({ ok: true })))(p) })
    .implement('instance.heartbeat', async (p) => { record('instance.heartbeat', p); return await (impl.heartbeat ?? (() => ({ commands: [], manifestVersion: 0 })))(p) })
    .implement('dialer.next', async (p) => { record('dialer.next', p); return await (impl.next ?? (() => []))(p) })
  const app = Fastify({ logger: false })
  await app.register(xmlrpcPlugin, { registry })
  await app.listen({ host: '127.0.0.1', port })
  const addr = app.server.address()
  const bound = typeof addr === 'object' && addr ? addr.port : 0
  return { url: `http://127.0.0.1:${bound}/RPC2`, calls, impl, close: async () => { await app.close() } }
}

/** A port nothing listens on (bound, then closed): connections are refused. */
export async function refusedUrl (): Promise<string> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const addr = srv.address()
  await new Promise<void>((resolve) => srv.close(() => { resolve() }))
  return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 1}/RPC2`
}

export async function tempDir (t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fed-agent-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** An agent config for tests: loopback, any free ports, AMI off unless given. */
export function testConfig (file: Record<string, unknown>): AgentConfig {
  return loadConfig(agentSettings, {
    env: {},
    file: {
      instanceId: 'i-test',
      instanceToken: 'tok',
      agiPort: 0,
      amiEnabled: false,
      heartbeatMs: 60_000,
      dialerIntervalMs: 20,
      callTimeoutMs: 1000,
      connectTimeoutMs: 300,
      spoolRetryMs: 50,
      agiReadTimeoutMs: 2000,
      soundsDir: '/snd',
      recordingsDir: '/rec',
      // The test tier has no storage: audio-sync and recordings tests turn these on.
      audioSync: false,
      recordingUpload: false,
      logLevel: 'silent',
      ...file,
    },
  })
}

// ---- the Asterisk side of FastAGI -------------------------------------------------------------

/** res_agi's parse_args: words split on blanks, double quotes group, backslash escapes. */
export function agiWords (line: string): string[] {
  const out: string[] = []
  let cur = ''
  let inWord = false
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (c === '\\' && i + 1 < line.length) { cur += line[++i]; inWord = true; continue }
    if (c === '"') { quoted = !quoted; inWord = true; continue }
    if (!quoted && (c === ' ' || c === '\t')) {
      if (inWord) out.push(cur)
      cur = ''
      inWord = false
      continue
    }
    cur += c
    inWord = true
  }
  if (inWord) out.push(cur)
  return out
}

export interface AgiCallOptions {
  port: number
  script?: string
  args?: string[]
  /** Extra agi_* values. */
  env?: Record<string, string>
  /** The channel's variables (the agent reads and writes them). */
  vars?: Map<string, string>
  /** The channel is dead: commands other than GET VARIABLE get 511. */
  dead?: boolean
  /** Called before each reply with the command's index and words; a string returned is sent instead (raw). */
  intercept?: (index: number, words: string[]) => string | undefined | Promise<string | undefined>
  /** Sends a bare HANGUP line when this settles (the channel hangs up at that moment). */
  hangupWhen?: Promise<unknown>
}

export interface AgiCallResult {
  vars: Map<string, string>
  commands: string[]
  /** The agent closed the connection (as opposed to our timeout). */
  closed: boolean
}

/** Opens one FastAGI request to the agent like Asterisk's AGI() does, answering its commands. */
export async function agiCall (opts: AgiCallOptions): Promise<AgiCallResult> {
  const vars = opts.vars ?? new Map<string, string>()
  const commands: string[] = []
  const socket = connect({ host: '127.0.0.1', port: opts.port })
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  socket.setEncoding('utf8')
  const script = opts.script ?? 'step'
  const env: Record<string, string> = {
    network: 'yes',
    network_script: script,
    request: `agi://127.0.0.1:${opts.port}/${script}`,
    channel: 'PJSIP/carrier-00000001',
    language: 'en',
    type: 'PJSIP',
    uniqueid: '1700000000.1',
    version: '20.5.0',
    callerid: '+15550001111',
    calleridname: 'unknown',
    callingpres: '0',
    callingani2: '0',
    callington: '0',
    callingtns: '0',
    dnid: '+15552223333',
    rdnis: 'unknown',
    context: 'federate-loop',
    extension: 'step',
    priority: '4',
    enhanced: '0.0',
    accountcode: '',
    threadid: '140000000000',
    ...opts.env,
  }
  let block = ''
  for (const [k, v] of Object.entries(env)) block += `agi_${k}: ${v}\n`
  ;(opts.args ?? []).forEach((a, i) => { block += `agi_arg_${i + 1}: ${a}\n` })
  socket.write(block + '\n')
  opts.hangupWhen?.then(() => { if (!socket.destroyed) socket.write('HANGUP\n') }).catch(() => {})
  let buffer = ''
  let queue = Promise.resolve()
  return await new Promise<AgiCallResult>((resolve) => {
    const timer = setTimeout(() => { socket.destroy(); resolve({ vars, commands, closed: false }) }, 5000)
    socket.on('data', (chunk: string) => {
      buffer += chunk
      let nl: number
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        const index = commands.length
        commands.push(line)
        queue = queue.then(async () => { if (!socket.destroyed) socket.write(await reply(index, line)) })
      }
    })
    socket.on('end', () => { socket.end() })
    socket.on('close', () => { clearTimeout(timer); resolve({ vars, commands, closed: true }) })
    socket.on('error', () => {})
  })

  async function reply (index: number, line: string): Promise<string> {
    const words = agiWords(line)
    const special = await opts.intercept?.(index, words)
    if (special !== undefined) return special
    const cmd = words.slice(0, 2).join(' ').toUpperCase()
    if (cmd === 'GET VARIABLE') {
      if (words.length !== 3) return '520-Invalid command syntax.  Proper usage follows:\nUsage: GET VARIABLE <variablename>\n520 End of proper usage.\n'
      const v = vars.get(words[2]!)
      return v === undefined ? '200 result=0\n' : `200 result=1 (${v})\n`
    }
    if (cmd === 'SET VARIABLE') {
      if (opts.dead) return '511 Command Not Permitted on a dead channel or intercept routine\n'
      if (words.length !== 4) return '520-Invalid command syntax.  Proper usage follows:\nUsage: SET VARIABLE <variablename> <value>\n520 End of proper usage.\n'
      vars.set(words[2]!, words[3]!)
      return '200 result=1\n'
    }
    return '510 Invalid or unknown command\n'
  }
}

// ---- AMI ----------------------------------------------------------------------------------------

export interface FakeAmiOptions {
  username?: string
  secret?: string
  /** Decides an Originate's OriginateResponse; delay in ms before it is sent. */
  originate?: (fields: Record<string, string>, variables: string[]) => { response: 'Success' | 'Failure', reason: number, delayMs?: number } | null
  channels?: () => Array<{ Channel: string, Uniqueid: string, Linkedid: string }>
}

export interface FakeAmi {
  port: number
  logins: number
  actions: Array<Record<string, string>>
  originates: Array<{ fields: Record<string, string>, variables: string[] }>
  /** Closes every client connection (the server keeps listening). */
  drop: () => void
  close: () => Promise<void>
}

/** A small AMI server: banner, Login, Ping, Logoff, async Originate + OriginateResponse, CoreShowChannels. */
export async function startFakeAmi (opts: FakeAmiOptions = {}): Promise<FakeAmi> {
  const sockets = new Set<Socket>()
  const state: FakeAmi = {
    port: 0,
    logins: 0,
    actions: [],
    originates: [],
    drop: () => { for (const s of sockets) s.destroy() },
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    },
  }
  const send = (s: Socket, fields: Array<[string, string]>) => {
    if (!s.destroyed) s.write(fields.map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n')
  }
  const server: Server = createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    s.setEncoding('utf8')
    s.write('Asterisk Call Manager/7.0.3\r\n')
    let authed = false
    let buffer = ''
    s.on('data', (chunk: string) => {
      buffer += chunk
      let end: number
      while ((end = buffer.indexOf('\r\n\r\n')) !== -1) {
        const text = buffer.slice(0, end)
        buffer = buffer.slice(end + 4)
        const fields: Record<string, string> = {}
        const variables: string[] = []
        for (const line of text.split('\r\n')) {
          const i = line.indexOf(': ')
          const k = line.slice(0, i)
          const v = line.slice(i + 2)
          if (k === 'Variable') variables.push(v)
          else fields[k] = v
        }
        state.actions.push(fields)
        const id = fields.ActionID ?? ''
        const action = (fields.Action ?? '').toLowerCase()
        if (action === 'login') {
          if (fields.Username === (opts.username ?? 'federate') && fields.Secret === (opts.secret ?? 'pw')) {
            authed = true
            state.logins++
            send(s, [['Response', 'Success'], ['ActionID', id], ['Message', 'Authentication accepted']])
            send(s, [['Event', 'FullyBooted'], ['Privilege', 'system,all'], ['Status', 'Fully Booted']])
          } else {
            send(s, [['Response', 'Error'], ['ActionID', id], ['Message', 'Authentication failed']])
            s.end()
          }
          continue
        }
        if (!authed) {
          send(s, [['Response', 'Error'], ['ActionID', id], ['Message', 'Permission denied']])
          continue
        }
        if (action === 'silence') continue // never answered: for timeouts
        if (action === 'ping') send(s, [['Response', 'Success'], ['ActionID', id], ['Ping', 'Pong'], ['Timestamp', '1700000000.000000']])
        else if (action === 'logoff') { send(s, [['Response', 'Goodbye'], ['ActionID', id], ['Message', 'Thanks for all the fish.']]); s.end() } else if (action === 'originate') {
          state.originates.push({ fields, variables })
          const decision = opts.originate?.(fields, variables) ?? { response: 'Success' as const, reason: 4 }
          send(s, [['Response', 'Success'], ['ActionID', id], ['Message', 'Originate successfully queued']])
          setTimeout(() => {
            send(s, [['Event', 'OriginateResponse'], ['Privilege', 'call,all'], ['ActionID', id], ['Response', decision.response], ['Channel', fields.Channel ?? ''],
              ['Context', fields.Context ?? ''], ['Exten', fields.Exten ?? ''], ['Application', ''], ['Data', ''], ['Reason', String(decision.reason)],
              ['Uniqueid', fields.ChannelId ?? '<null>'], ['CallerIDNum', '<unknown>'], ['CallerIDName', '<unknown>']])
          }, decision.delayMs ?? 5)
        } else if (action === 'coreshowchannels') {
          const list = opts.channels?.() ?? []
          send(s, [['Response', 'Success'], ['ActionID', id], ['EventList', 'start'], ['Message', 'Channels will follow']])
          for (const c of list) {
            send(s, [['Event', 'CoreShowChannel'], ['ActionID', id], ['Channel', c.Channel], ['ChannelState', '6'], ['ChannelStateDesc', 'Up'],
              ['Uniqueid', c.Uniqueid], ['Linkedid', c.Linkedid], ['Application', 'AGI'], ['Duration', '00:00:05']])
          }
          send(s, [['Event', 'CoreShowChannelsComplete'], ['ActionID', id], ['EventList', 'Complete'], ['ListItems', String(list.length)]])
        } else {
          send(s, [['Response', 'Error'], ['ActionID', id], ['Message', 'Invalid/unknown command']])
        }
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address()
  state.port = typeof addr === 'object' && addr ? addr.port : 0
  return state
}
