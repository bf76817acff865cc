import { createServer, type Server, type Socket } from 'node:net'
import type { Logger } from 'pino'
import { createSplitter, encode, type AmiMessage, type Fields } from './ami-protocol.ts'
import { hms, snapshotFields, type SimChannel } from './channel.ts'

// An AMI server that answers like Asterisk's manager.c: banner line, Login, Ping, Events,
// Originate (async and not), CoreShowChannels, CoreStatus, Hangup, Logoff, and channel
// events (Newchannel, Hangup, OriginateResponse) to sessions that want them.

export interface OriginateRequest {
  actionId?: string
  /** The dial string, e.g. PJSIP/+15551234567@carrier. */
  channel: string
  context: string
  exten: string
  priority: number
  application?: string
  data?: string
  timeoutMs: number
  callerId?: string
  account?: string
  variables: Record<string, string>
  async: boolean
  channelId?: string
}

export interface OriginateResult {
  response: 'Success' | 'Failure'
  /** The new channel's name on success, the dial string on failure. */
  channel: string
  reason: number
  uniqueid?: string
  callerIdNum?: string
  callerIdName?: string
}

export interface AmiBackend {
  /** Places the call; resolves once it is answered (and in the dialplan) or has failed. */
  originate: (req: OriginateRequest) => Promise<OriginateResult>
  channels: () => Iterable<SimChannel>
  /** Hangs up a channel by name; false when there is none. */
  hangup: (channel: string, cause: number) => boolean
  /** Simulated ms now (channel durations). */
  now: () => number
}

export interface AmiServerOptions {
  port?: number
  host?: string
  /** username -> secret */
  users: Record<string, string>
  /** The version in the banner line; 9.0.0 is Asterisk 20's AMI. */
  version?: string
  logger: Logger
}

export interface AmiServer {
  listen: () => Promise<number>
  readonly port: number
  /** Sends an event to every logged-in session that has events on. */
  event: (name: string, fields: Fields, privilege?: string) => void
  sessions: () => number
  close: () => Promise<void>
}

interface Session {
  socket: Socket
  user?: string
  events: boolean
}

const startedAt = new Date()

export function createAmiServer (backend: AmiBackend, opts: AmiServerOptions): AmiServer {
  const { logger } = opts
  const sessions = new Set<Session>()
  let port = 0
  let closed = false
  const server: Server = createServer({ noDelay: true }, (socket) => {
    const s: Session = { socket, events: true }
    sessions.add(s)
    socket.setEncoding('utf8')
    socket.on('error', () => {})
    socket.on('close', () => sessions.delete(s))
    socket.write(`Asterisk Call Manager/${opts.version ?? '9.0.0'}\r\n`)
    // manager.c runs one session's actions in order: a synchronous Originate holds the
    // session until it is answered or fails (hence Async: true).
    let queue: Promise<void> = Promise.resolve()
    const split = createSplitter((m) => {
      queue = queue.then(() => handle(s, m)).catch((err) => logger.error({ err }, 'ami action failed'))
    })
    socket.on('data', (chunk: string) => {
      if (!split(chunk)) socket.destroy()
    })
  })

  const send = (s: Session, fields: Fields): void => {
    if (!s.socket.destroyed && s.socket.writable) s.socket.write(encode(fields))
  }
  const response = (s: Session, m: AmiMessage, status: 'Success' | 'Error' | 'Goodbye', message?: string, extra: Fields = [], listFlag?: string): void => {
    send(s, [['Response', status], ['ActionID', m.get('ActionID')], ['EventList', listFlag], ['Message', message], ...extra])
  }

  async function handle (s: Session, m: AmiMessage): Promise<void> {
    const action = m.get('Action')
    if (action === undefined || action === '') return response(s, m, 'Error', 'Missing action in request')
    const name = action.toLowerCase()
    if (!s.user && name !== 'login' && name !== 'logoff' && name !== 'challenge') {
      return response(s, m, 'Error', 'Permission denied')
    }
    switch (name) {
      case 'login': return login(s, m)
      case 'logoff':
        response(s, m, 'Goodbye', 'Thanks for all the fish.')
        s.socket.end()
        return
      case 'ping':
        return response(s, m, 'Success', undefined, [['Ping', 'Pong'], ['Timestamp', (Date.now() / 1000).toFixed(6)]])
      case 'events': return events(s, m)
      case 'originate': return await originate(s, m)
      case 'coreshowchannels': return showChannels(s, m)
      case 'corestatus': {
        // Calls, not channels: the legs of a bridged call share a Linkedid.
        const calls = new Set([...backend.channels()].map((c) => c.linkedid)).size
        return response(s, m, 'Success', undefined, [
          ['CoreStartupDate', startedAt.toISOString().slice(0, 10)],
          ['CoreStartupTime', startedAt.toISOString().slice(11, 19)],
          ['CoreReloadDate', startedAt.toISOString().slice(0, 10)],
          ['CoreReloadTime', startedAt.toISOString().slice(11, 19)],
          ['CoreCurrentCalls', calls],
        ])
      }
      case 'hangup': {
        const channel = m.get('Channel')
        if (!channel) return response(s, m, 'Error', 'No channel specified')
        const cause = Number(m.get('Cause') ?? 16)
        return backend.hangup(channel, Number.isInteger(cause) && cause > 0 ? cause : 16)
          ? response(s, m, 'Success', 'Channel Hungup')
          : response(s, m, 'Error', 'No such channel')
      }
      default:
        return response(s, m, 'Error', `Invalid/unknown command: ${action}. Use Action: ListCommands to show available commands.`)
    }
  }

  function login (s: Session, m: AmiMessage): void {
    const user = m.get('Username') ?? ''
    const secret = m.get('Secret') ?? ''
    const known = Object.prototype.hasOwnProperty.call(opts.users, user) ? opts.users[user] : undefined
    if (known === undefined || known !== secret) {
      logger.warn({ user }, 'ami authentication failed')
      response(s, m, 'Error', 'Authentication failed')
      // manager.c ends the session after a failed login.
      s.socket.end()
      return
    }
    s.user = user
    const ev = m.get('Events')
    if (ev !== undefined) s.events = eventsWanted(ev)
    response(s, m, 'Success', 'Authentication accepted')
    if (s.events) {
      const uptime = Math.floor((Date.now() - startedAt.getTime()) / 1000)
      send(s, [['Event', 'FullyBooted'], ['Privilege', 'system,all'], ['Uptime', uptime], ['LastReload', uptime], ['Status', 'Fully Booted']])
    }
  }

  function events (s: Session, m: AmiMessage): void {
    const mask = m.get('EventMask') ?? ''
    s.events = eventsWanted(mask)
    response(s, m, 'Success', undefined, [['Events', s.events ? 'On' : 'Off']])
  }

  async function originate (s: Session, m: AmiMessage): Promise<void> {
    const channel = m.get('Channel') ?? ''
    if (!channel) return response(s, m, 'Error', 'Channel not specified')
    if (!/^[^/]+\/.+/.test(channel)) return response(s, m, 'Error', 'Invalid channel')
    const timeoutRaw = m.get('Timeout')
    const timeoutMs = timeoutRaw === undefined || timeoutRaw === '' ? 30000 : Number(timeoutRaw)
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) return response(s, m, 'Error', 'Invalid timeout')
    const priorityRaw = m.get('Priority')
    const priority = priorityRaw === undefined || priorityRaw === '' ? 1 : Number(priorityRaw)
    if (!Number.isInteger(priority) || priority < 1) return response(s, m, 'Error', 'Invalid priority')
    const application = m.get('Application')
    const exten = m.get('Exten') ?? ''
    const context = m.get('Context') ?? ''
    if (!application && (!exten || !context)) return response(s, m, 'Error', 'Originate failed')
    const variables: Record<string, string> = Object.create(null)
    for (const header of m.all('Variable')) {
      // One header may carry several "name=value" pairs separated by commas.
      for (const pair of header.split(',')) {
        const eq = pair.indexOf('=')
        if (eq > 0) variables[pair.slice(0, eq).trim()] = pair.slice(eq + 1)
      }
    }
    const isAsync = /^(yes|true|y|t|1|on)$/i.test(m.get('Async') ?? '')
    const req: OriginateRequest = {
      actionId: m.get('ActionID'),
      channel,
      context,
      exten,
      priority,
      application,
      data: m.get('Data'),
      timeoutMs,
      callerId: m.get('CallerID'),
      account: m.get('Account'),
      variables,
      async: isAsync,
      channelId: m.get('ChannelId'),
    }
    if (isAsync) {
      response(s, m, 'Success', 'Originate successfully queued')
      // Not awaited: the session goes on with its next action while the call rings.
      backend.originate(req).then((result) => originateResponse(req, result), (err) => logger.error({ err }, 'originate failed'))
      return
    }
    const result = await backend.originate(req)
    if (result.response === 'Success') response(s, m, 'Success', 'Originate successfully queued')
    else response(s, m, 'Error', 'Originate failed')
  }

  function originateResponse (req: OriginateRequest, result: OriginateResult): void {
    // OriginateResponse is a manager event: every session with call events sees it.
    event('OriginateResponse', [
      ['ActionID', req.actionId],
      ['Response', result.response],
      ['Channel', result.channel],
      ['Context', req.context],
      ['Exten', req.exten],
      ['Application', req.application ?? ''],
      ['Data', req.data ?? ''],
      ['Reason', result.reason],
      ['Uniqueid', result.uniqueid ?? '<null>'],
      ['CallerIDNum', result.callerIdNum || '<unknown>'],
      ['CallerIDName', result.callerIdName || '<unknown>'],
    ])
  }

  function showChannels (s: Session, m: AmiMessage): void {
    const id = m.get('ActionID')
    response(s, m, 'Success', 'Channels will follow', [], 'start')
    const now = backend.now()
    let n = 0
    let out = ''
    for (const c of backend.channels()) {
      n++
      out += encode([
        ['Event', 'CoreShowChannel'],
        ['ActionID', id],
        ...snapshotFields(c),
        ['BridgeId', c.bridgeId],
        ['Application', c.application],
        ['ApplicationData', c.applicationData],
        ['Duration', hms((now - c.createdAt) / 1000)],
      ])
    }
    out += encode([['Event', 'CoreShowChannelsComplete'], ['ActionID', id], ['EventList', 'Complete'], ['ListItems', n]])
    if (!s.socket.destroyed) s.socket.write(out)
  }

  function event (name: string, fields: Fields, privilege = 'call,all'): void {
    if (sessions.size === 0) return
    const text = encode([['Event', name], ['Privilege', privilege], ...fields])
    for (const s of sessions) {
      // A consumer that does not read gets no more events rather than unbounded memory.
      if (s.user && s.events && !s.socket.destroyed && s.socket.writableLength < 4 * 1024 * 1024) s.socket.write(text)
    }
  }

  return {
    get port () { return port },
    listen: () => new Promise<number>((resolve, reject) => {
      server.once('error', reject)
      server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
        server.off('error', reject)
        const a = server.address()
        port = typeof a === 'object' && a ? a.port : 0
        resolve(port)
      })
    }),
    event,
    sessions: () => sessions.size,
    close: async () => {
      if (closed) return
      closed = true
      for (const s of sessions) s.socket.destroy()
      sessions.clear()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

// "on", "off", or a list of classes ("call,system"); "off" and "none" mean no events.
function eventsWanted (v: string): boolean {
  const x = v.trim().toLowerCase()
  return !(x === '' || x === 'off' || x === 'none' || x === 'no' || x === 'false' || x === '0')
}
