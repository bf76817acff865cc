import type { Socket } from 'node:net'
import { AgentError, AgentErrorCodes, AgiHangupError } from './errors.ts'
import { isMultiLineEnd, isMultiLineStart, parseEnvLine, parseReplyLine, type AgiReply } from './agi-protocol.ts'

// One FastAGI connection from Asterisk: the environment block, then strictly one command and one
// reply at a time. res_agi reads our commands through a buffered stream and only waits on the
// socket between commands, so pipelining commands can stall it: we never write ahead.
// A `HANGUP` line may arrive at any moment (AGISIGHUP): it is taken out of the reply stream and
// only marks the connection; the reply to a command in progress still follows it.

export interface AgiConnectionOptions {
  /** Longest wait for any line. */
  readTimeoutMs: number
  /** Longest environment block, in lines (a peer that never ends it is cut off). */
  maxEnvLines?: number
}

const MAX_LINE = 64 * 1024

export class AgiConnection {
  /** Asterisk sent `HANGUP` or answered 511: the channel is gone. */
  hungUp = false
  private buffer = ''
  private readonly lines: string[] = []
  private waiter: { resolve: (line: string) => void, reject: (err: Error) => void } | null = null
  private ended: Error | null = null
  private closed = false
  private readonly socket: Socket
  private readonly opts: Required<AgiConnectionOptions>

  constructor (socket: Socket, opts: AgiConnectionOptions) {
    this.socket = socket
    this.opts = { maxEnvLines: 256, ...opts }
    socket.setEncoding('utf8')
    socket.setNoDelay(true)
    socket.on('data', (chunk: string) => { this.onData(chunk) })
    socket.on('error', (err) => { this.end(new AgentError(AgentErrorCodes.AGI, `AGI socket error: ${err.message}`, { cause: err })) })
    socket.on('close', () => { this.end(new AgentError(AgentErrorCodes.AGI, 'AGI socket closed by Asterisk')) })
  }

  private onData (chunk: string): void {
    this.buffer += chunk
    let nl: number
    while ((nl = this.buffer.indexOf('\n')) !== -1) {
      let line = this.buffer.slice(0, nl)
      this.buffer = this.buffer.slice(nl + 1)
      if (line.endsWith('\r')) line = line.slice(0, -1)
      if (line === 'HANGUP') {
        this.hungUp = true
        continue
      }
      if (this.waiter) {
        const w = this.waiter
        this.waiter = null
        w.resolve(line)
      } else {
        this.lines.push(line)
      }
    }
    if (this.buffer.length > MAX_LINE) {
      this.end(new AgentError(AgentErrorCodes.AGI, 'AGI line too long'))
      this.socket.destroy()
    }
  }

  private end (err: Error): void {
    if (this.ended) return
    this.ended = err
    if (this.waiter) {
      const w = this.waiter
      this.waiter = null
      w.reject(err)
    }
  }

  /** The next line from Asterisk (HANGUP lines excluded), or an error after the read timeout. */
  private async readLine (): Promise<string> {
    const queued = this.lines.shift()
    if (queued !== undefined) return queued
    if (this.ended) throw this.ended
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null
        reject(new AgentError(AgentErrorCodes.AGI, `no line from Asterisk within ${this.opts.readTimeoutMs} ms`))
      }, this.opts.readTimeoutMs)
      this.waiter = {
        resolve: (line) => { clearTimeout(timer); resolve(line) },
        reject: (err) => { clearTimeout(timer); reject(err) },
      }
    })
  }

  /** Reads the environment block: `agi_*` values by name without the prefix. */
  async readEnv (): Promise<Record<string, string>> {
    const env: Record<string, string> = Object.create(null)
    for (let n = 0; n < this.opts.maxEnvLines; n++) {
      const line = await this.readLine()
      if (line === '') return env
      const kv = parseEnvLine(line)
      if (kv) env[kv[0]] = kv[1]
    }
    throw new AgentError(AgentErrorCodes.AGI, 'AGI environment block did not end')
  }

  /**
   * Sends one command and reads its whole reply (all lines of a multi-line 520).
   * A 511 marks the channel hung up. Throws only on socket trouble or a timeout.
   */
  async command (line: string): Promise<AgiReply> {
    if (this.ended) throw this.ended
    if (this.closed) throw new AgentError(AgentErrorCodes.AGI, 'AGI connection closed')
    this.socket.write(line + '\n')
    const first = await this.readLine()
    if (isMultiLineStart(first)) {
      const code = Number(first.slice(0, 3))
      const all = [first]
      for (;;) {
        const next = await this.readLine()
        all.push(next)
        if (isMultiLineEnd(next, code)) break
        if (all.length > 200) throw new AgentError(AgentErrorCodes.AGI, 'multi-line AGI reply did not end')
      }
      return { code, raw: all.join('\n') }
    }
    const reply = parseReplyLine(first)
    if (!reply) throw new AgentError(AgentErrorCodes.AGI, `unreadable AGI reply: ${JSON.stringify(first.slice(0, 200))}`)
    if (reply.code === 511) this.hungUp = true
    return reply
  }

  /** `GET VARIABLE`: the value, or undefined when it is not set. Throws AgiHangupError on 511. */
  async getVariable (name: string): Promise<string | undefined> {
    const reply = await this.command(`GET VARIABLE ${name}`)
    if (reply.code === 511) throw new AgiHangupError('GET VARIABLE refused on a dead channel (511)')
    if (reply.code !== 200) throw new AgentError(AgentErrorCodes.AGI, `GET VARIABLE ${name} failed: ${reply.raw}`)
    return reply.result === '1' ? (reply.value ?? '') : undefined
  }

  /** `SET VARIABLE name "value"`; throws AgiHangupError on 511 and AgentError on any other non-200. */
  async setVariable (name: string, quotedValue: string): Promise<void> {
    const reply = await this.command(`SET VARIABLE ${name} ${quotedValue}`)
    if (reply.code === 511) throw new AgiHangupError('SET VARIABLE refused on a dead channel (511)')
    if (reply.code !== 200) throw new AgentError(AgentErrorCodes.AGI, `SET VARIABLE ${name} failed: ${reply.raw}`)
  }

  /** Ends the AGI request: Asterisk's AGI() returns and the dialplan goes on. Idempotent. */
  close (): void {
    if (this.closed) return
    this.closed = true
    this.socket.end()
    // A peer that never closes its side must not keep the socket: destroy after a grace.
    setTimeout(() => { this.socket.destroy() }, 1000).unref()
  }
}
