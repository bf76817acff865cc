import { connect, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { AmiMessage, AmiParser, formatAction, type ActionFields } from './ami-protocol.ts'
import { AgentError, AgentErrorCodes } from './errors.ts'

// A small AMI client: one connection, Login, actions correlated by ActionID with a timeout each,
// list actions (CoreShowChannels) collected up to their Complete event, async Originate
// correlated with its OriginateResponse event, a Ping keep-alive, and reconnection with
// exponential backoff and full jitter. Actions sent while disconnected fail at once: the
// callers (dialer loop, heartbeat) try again on their next tick.

export interface AmiClientOptions {
  host: string
  port: number
  username: string
  secret: string
  actionTimeoutMs: number
  logger: Logger
  /** Ping interval; a failed ping drops the connection. Default 20 s. */
  pingMs?: number
  /** Backoff bounds for reconnects. Defaults 200 ms and 10 s. */
  minBackoffMs?: number
  maxBackoffMs?: number
}

export interface OriginateRequest {
  /** Dial string, e.g. PJSIP/+15551234567@carrier. */
  channel: string
  context: string
  exten: string
  priority: number
  /** Ring time in ms (Originate's Timeout). */
  timeoutMs: number
  callerId?: string
  /** Sets the outgoing channel's Uniqueid (Asterisk 13+). */
  channelId?: string
  variables: Record<string, string>
}

export interface OriginateResult {
  response: 'Success' | 'Failure'
  /** The OriginateResponse Reason (last control frame); -1 when Asterisk refused the action itself. */
  reason: number
  uniqueid?: string
  channel?: string
}

export interface ChannelsSnapshot {
  /** Every CoreShowChannel entry. */
  channels: Array<Record<string, string>>
  /** Calls = distinct Linkedid values (a bridged call's legs share one). */
  linkedIds: Set<string>
}

interface Pending {
  resolve: (m: AmiMessage) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
  /** For list actions: events collected until this event name arrives. */
  completeEvent?: string
  events?: AmiMessage[]
  response?: AmiMessage
}

interface OriginateWaiter {
  resolve: (r: OriginateResult) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class AmiClient extends EventEmitter {
  private socket: Socket | null = null
  private parser = new AmiParser()
  private readonly pending = new Map<string, Pending>()
  private readonly originates = new Map<string, OriginateWaiter>()
  private seq = 0
  private readonly prefix = randomBytes(4).toString('hex')
  private attempt = 0
  private reconnectTimer: NodeJS.Timeout | null = null
  private pingTimer: NodeJS.Timeout | null = null
  private closed = false
  private closing = false
  private started = false
  /** Logged in and usable. */
  connected = false
  /** Why the last connection or login failed. */
  lastError: Error | null = null
  /** Logins so far (tests and logs watch reconnects with it). */
  logins = 0
  private readonly opts: AmiClientOptions
  private readonly log: Logger

  constructor (opts: AmiClientOptions) {
    super()
    this.opts = opts
    this.log = opts.logger
  }

  /** Starts connecting (and reconnecting forever until close()). */
  start (): void {
    if (this.started || this.closed) return
    this.started = true
    this.connectOnce()
  }

  /** Resolves once logged in, or rejects with the last error after timeoutMs. */
  async ready (timeoutMs = this.opts.actionTimeoutMs): Promise<void> {
    if (this.connected) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('login', onLogin)
        reject(this.lastError ?? new AgentError(AgentErrorCodes.AMI, `AMI not ready within ${timeoutMs} ms`))
      }, timeoutMs)
      const onLogin = (): void => { clearTimeout(timer); resolve() }
      this.once('login', onLogin)
    })
  }

  private actionId (): string {
    return `${this.prefix}-${++this.seq}`
  }

  private connectOnce (): void {
    if (this.closed) return
    const socket = connect({ host: this.opts.host, port: this.opts.port })
    this.socket = socket
    this.parser = new AmiParser()
    socket.setEncoding('utf8')
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 10_000)
    let loginSent = false
    const connectTimer = setTimeout(() => { socket.destroy(new Error(`AMI connect timeout after ${this.opts.actionTimeoutMs} ms`)) }, this.opts.actionTimeoutMs)
    socket.on('data', (chunk: string) => {
      let messages: AmiMessage[]
      try {
        messages = this.parser.push(chunk)
      } catch (err) {
        socket.destroy(err as Error)
        return
      }
      if (this.parser.pendingBytes > 1024 * 1024) {
        socket.destroy(new Error('AMI line too long'))
        return
      }
      if (!loginSent && this.parser.banner !== null) {
        loginSent = true
        clearTimeout(connectTimer)
        this.login(socket)
      }
      for (const m of messages) this.dispatch(m)
    })
    socket.on('error', (err) => {
      this.lastError = new AgentError(AgentErrorCodes.AMI, `AMI connection to ${this.opts.host}:${this.opts.port}: ${err.message}`, { cause: err })
    })
    socket.on('close', () => {
      clearTimeout(connectTimer)
      this.onDisconnect(socket)
    })
  }

  private login (socket: Socket): void {
    const id = this.actionId()
    const timer = setTimeout(() => {
      this.pending.delete(id)
      this.lastError = new AgentError(AgentErrorCodes.AMI, 'AMI login timed out')
      socket.destroy()
    }, this.opts.actionTimeoutMs)
    this.pending.set(id, {
      timer,
      resolve: (m) => {
        if (m.get('Response') !== 'Success') {
          this.lastError = new AgentError(AgentErrorCodes.AMI, `AMI login refused: ${m.get('Message') ?? 'no message'}`)
          this.log.error({ user: this.opts.username }, this.lastError.message)
          socket.destroy()
          return
        }
        this.connected = true
        this.attempt = 0
        this.lastError = null
        this.logins++
        this.schedulePing()
        this.log.info({ host: this.opts.host, port: this.opts.port, banner: this.parser.banner }, 'AMI logged in')
        this.emit('login')
      },
      reject: () => {},
    })
    socket.write(formatAction({ Action: 'Login', ActionID: id, Username: this.opts.username, Secret: this.opts.secret, Events: 'on' }))
  }

  private schedulePing (): void {
    if (this.pingTimer) clearInterval(this.pingTimer)
    this.pingTimer = setInterval(() => {
      this.action({ Action: 'Ping' }).catch((err: unknown) => {
        this.log.warn({ err }, 'AMI ping failed: reconnecting')
        this.socket?.destroy()
      })
    }, this.opts.pingMs ?? 20_000)
    this.pingTimer.unref()
  }

  private onDisconnect (socket: Socket): void {
    if (this.socket !== socket) return
    this.socket = null
    const was = this.connected
    this.connected = false
    if (this.pingTimer) clearInterval(this.pingTimer)
    this.pingTimer = null
    const err = new AgentError(AgentErrorCodes.AMI, 'AMI connection lost')
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer)
      this.pending.delete(id)
      p.reject(err)
    }
    // An originate in flight has an unknown fate: if it is answered, the call runs the
    // dialplan and ends through the hangup handler; if not, the tier's lease expires.
    for (const [id, w] of this.originates) {
      clearTimeout(w.timer)
      this.originates.delete(id)
      w.reject(new AgentError(AgentErrorCodes.AMI, 'AMI connection lost before the OriginateResponse'))
    }
    if (was && !this.closing) {
      this.log.warn('AMI connection lost')
      this.emit('disconnect')
    }
    if (this.closed || this.closing) return
    const ceiling = Math.min(this.opts.maxBackoffMs ?? 10_000, (this.opts.minBackoffMs ?? 200) * 2 ** this.attempt)
    const delay = Math.round(ceiling / 2 + Math.random() * ceiling / 2)
    this.attempt = Math.min(this.attempt + 1, 30)
    this.reconnectTimer = setTimeout(() => { this.reconnectTimer = null; this.connectOnce() }, delay)
  }

  private dispatch (m: AmiMessage): void {
    const id = m.get('ActionID')
    const event = m.get('Event')
    if (event !== undefined) {
      if (event === 'OriginateResponse' && id !== undefined) {
        const w = this.originates.get(id)
        if (w) {
          clearTimeout(w.timer)
          this.originates.delete(id)
          const uniqueid = m.get('Uniqueid')
          const channel = m.get('Channel')
          const result: OriginateResult = { response: m.get('Response') === 'Success' ? 'Success' : 'Failure', reason: Number(m.get('Reason') ?? 0) || 0 }
          if (uniqueid) result.uniqueid = uniqueid
          if (channel) result.channel = channel
          w.resolve(result)
          return
        }
      }
      const p = id === undefined ? undefined : this.pending.get(id)
      if (p?.completeEvent !== undefined) {
        if (event === p.completeEvent) {
          clearTimeout(p.timer)
          this.pending.delete(id!)
          p.resolve(m)
        } else {
          p.events!.push(m)
        }
        return
      }
      this.emit('event', m)
      return
    }
    if (id === undefined) return
    const p = this.pending.get(id)
    if (!p) return
    if (p.completeEvent !== undefined && m.get('Response') === 'Success') {
      p.response = m
      return
    }
    clearTimeout(p.timer)
    this.pending.delete(id)
    p.resolve(m)
  }

  /** Sends an action and resolves with its response (or, for list actions, the Complete event). */
  async action (fields: ActionFields, opts: { completeEvent?: string, events?: AmiMessage[], timeoutMs?: number } = {}): Promise<AmiMessage> {
    const socket = this.socket
    if (this.closed) throw new AgentError(AgentErrorCodes.CLOSED, 'the AMI client is closed')
    if (!this.connected || !socket) throw new AgentError(AgentErrorCodes.AMI, 'AMI is not connected')
    const id = this.actionId()
    const timeoutMs = opts.timeoutMs ?? this.opts.actionTimeoutMs
    const text = formatAction({ ...fields, ActionID: id })
    return await new Promise<AmiMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new AgentError(AgentErrorCodes.AMI, `AMI ${String(fields.Action)} got no answer within ${timeoutMs} ms`))
      }, timeoutMs)
      const p: Pending = { resolve, reject, timer }
      if (opts.completeEvent !== undefined) {
        p.completeEvent = opts.completeEvent
        p.events = opts.events ?? []
      }
      this.pending.set(id, p)
      socket.write(text)
    })
  }

  /** Counts live calls: CoreShowChannels, grouped by Linkedid. */
  async coreShowChannels (): Promise<ChannelsSnapshot> {
    const events: AmiMessage[] = []
    const done = await this.action({ Action: 'CoreShowChannels' }, { completeEvent: 'CoreShowChannelsComplete', events })
    if (done.get('Response') === 'Error') throw new AgentError(AgentErrorCodes.AMI, `CoreShowChannels refused: ${done.get('Message') ?? ''}`)
    const channels = events.filter((e) => e.get('Event') === 'CoreShowChannel').map((e) => e.toObject())
    const linkedIds = new Set<string>()
    for (const c of channels) linkedIds.add(c.Linkedid || c.LinkedID || c.Uniqueid || c.Channel || '')
    linkedIds.delete('')
    return { channels, linkedIds }
  }

  /**
   * Async Originate: resolves with the OriginateResponse (Success: answered and in the dialplan;
   * Failure: with its Reason), or Failure reason -1 when Asterisk refused the action itself.
   * Rejects when AMI is down or the connection drops before the answer (fate unknown).
   */
  async originate (req: OriginateRequest, opts: { responseTimeoutMs?: number } = {}): Promise<OriginateResult> {
    const socket = this.socket
    if (this.closed) throw new AgentError(AgentErrorCodes.CLOSED, 'the AMI client is closed')
    if (!this.connected || !socket) throw new AgentError(AgentErrorCodes.AMI, 'AMI is not connected')
    const id = this.actionId()
    const waitMs = opts.responseTimeoutMs ?? req.timeoutMs + 30_000
    const outcome = new Promise<OriginateResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.originates.delete(id)
        resolve({ response: 'Failure', reason: -1 })
      }, waitMs)
      this.originates.set(id, { resolve, reject, timer })
    })
    outcome.catch(() => {})
    const fields: ActionFields = {
      Action: 'Originate',
      ActionID: id,
      Channel: req.channel,
      ChannelId: req.channelId,
      Context: req.context,
      Exten: req.exten,
      Priority: req.priority,
      Timeout: req.timeoutMs,
      CallerID: req.callerId,
      Async: 'true',
      Variable: Object.entries(req.variables).map(([k, v]) => `${k}=${v}`),
    }
    let text: string
    try {
      text = formatAction(fields)
    } catch (err) {
      this.dropOriginate(id)
      throw err
    }
    const response = await new Promise<AmiMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new AgentError(AgentErrorCodes.AMI, `AMI Originate got no answer within ${this.opts.actionTimeoutMs} ms`))
      }, this.opts.actionTimeoutMs)
      this.pending.set(id, { resolve, reject, timer })
      socket.write(text)
    }).catch((err: unknown) => {
      this.dropOriginate(id)
      throw err
    })
    if (response.get('Response') !== 'Success') {
      this.dropOriginate(id)
      this.log.warn({ message: response.get('Message') }, 'AMI Originate refused')
      return { response: 'Failure', reason: -1 }
    }
    return await outcome
  }

  private dropOriginate (id: string): void {
    const w = this.originates.get(id)
    if (w) {
      clearTimeout(w.timer)
      this.originates.delete(id)
    }
  }

  /** Logs off and stops reconnecting. Idempotent. */
  async close (): Promise<void> {
    if (this.closed || this.closing) return
    this.closing = true
    const socket = this.socket
    if (this.connected && socket) {
      await this.action({ Action: 'Logoff' }, { timeoutMs: 500 }).catch(() => {})
    }
    this.closed = true
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    if (this.pingTimer) clearInterval(this.pingTimer)
    if (socket && !socket.closed) {
      const gone = new Promise<void>((resolve) => { socket.once('close', () => { resolve() }) })
      socket.end()
      const timer = setTimeout(() => { socket.destroy() }, 500)
      await gone
      clearTimeout(timer)
    }
  }
}
