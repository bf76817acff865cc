import { connect, createServer, type Server, type Socket } from 'node:net'
import { waitFor } from '@federate/testkit'

// Test doubles that speak the wire protocols independently of the code under test:
// a raw AMI client and a small FastAGI server (the "agent").

export type AmiMsg = Record<string, string>

/** A raw AMI client: reads the banner, then messages split on a blank line. */
export async function amiClient (port: number): Promise<{
  banner: string
  messages: AmiMsg[]
  send: (fields: Array<[string, string]>) => void
  /** Waits for the first message (after `from`) matching `pred`. */
  next: (pred: (m: AmiMsg) => boolean, timeoutMs?: number) => Promise<AmiMsg>
  closed: () => boolean
  close: () => void
}> {
  const socket = connect({ port, host: '127.0.0.1' })
  socket.setEncoding('utf8')
  let buf = ''
  let banner = ''
  let isClosed = false
  const messages: AmiMsg[] = []
  const consumed = new Set<AmiMsg>()
  socket.on('close', () => { isClosed = true })
  socket.on('error', () => {})
  socket.on('data', (chunk: string) => {
    buf += chunk
    if (!banner) {
      const nl = buf.indexOf('\r\n')
      if (nl < 0) return
      banner = buf.slice(0, nl)
      buf = buf.slice(nl + 2)
    }
    let end: number
    while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
      const block = buf.slice(0, end)
      buf = buf.slice(end + 4)
      const m: AmiMsg = {}
      for (const line of block.split('\r\n')) {
        const i = line.indexOf(': ')
        if (i > 0) m[line.slice(0, i)] = line.slice(i + 2)
        else if (line.endsWith(':')) m[line.slice(0, -1)] = ''
      }
      messages.push(m)
    }
  })
  await waitFor(() => banner, { what: 'AMI banner' })
  return {
    banner,
    messages,
    send (fields) {
      socket.write(fields.map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n')
    },
    async next (pred, timeoutMs = 5000) {
      const m = await waitFor(() => messages.find((x) => !consumed.has(x) && pred(x)), { timeoutMs, what: 'an AMI message' })
      consumed.add(m)
      return m
    },
    closed: () => isClosed,
    close: () => socket.destroy(),
  }
}

export interface AgiScript {
  env: Record<string, string>
  socket: Socket
  /** Sends one command line, resolves with its answer (all lines of a 520 block). */
  cmd: (line: string) => Promise<string>
  /** True once Asterisk sent the asynchronous HANGUP line. */
  hungUp: () => boolean
  close: () => void
}

/** A FastAGI server: reads the environment block, then hands the session to `handler`. */
export async function fakeAgent (handler: (s: AgiScript) => Promise<void>): Promise<{ port: number, server: Server, sessions: number, close: () => Promise<void> }> {
  const state = { sessions: 0 }
  const server = createServer({ noDelay: true }, (socket) => {
    state.sessions++
    socket.setEncoding('utf8')
    socket.on('error', () => {})
    let buf = ''
    let envDone = false
    const env: Record<string, string> = {}
    let hung = false
    const waiting: Array<(line: string) => void> = []
    const lines: string[] = []
    let multi: string[] | undefined
    const deliver = (line: string): void => {
      if (line === 'HANGUP') { hung = true; return }
      // 520- blocks end with "520 End of proper usage."
      if (multi) {
        multi.push(line)
        if (!line.startsWith('520 ')) return
        line = multi.join('\n')
        multi = undefined
      } else if (line.startsWith('520-')) {
        multi = [line]
        return
      }
      const w = waiting.shift()
      if (w) w(line)
      else lines.push(line)
    }
    const script: AgiScript = {
      env,
      socket,
      cmd: (line) => new Promise((resolve) => {
        socket.write(line + '\n')
        const ready = lines.shift()
        if (ready !== undefined) resolve(ready)
        else waiting.push(resolve)
      }),
      hungUp: () => hung,
      close: () => socket.end(),
    }
    socket.on('data', (chunk: string) => {
      buf += chunk
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        if (!envDone) {
          if (line === '') {
            envDone = true
            handler(script).catch(() => socket.destroy())
            continue
          }
          const i = line.indexOf(': ')
          if (i > 0) env[line.slice(0, i)] = line.slice(i + 2)
          else if (line.endsWith(':')) env[line.slice(0, -1)] = ''
          continue
        }
        deliver(line)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address()
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    server,
    get sessions () { return state.sessions },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      // Connections still open would keep close() waiting.
      server.unref()
      setTimeout(resolve, 200).unref()
    }),
  }
}

/** Quotes a value the way the agent does for SET VARIABLE. */
export function q (v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
}

export interface StepLog { script: string, args: string[], env: Record<string, string>, state?: string }

/**
 * An agent that runs a scripted flow: `next(event args, step number)` returns the action's
 * variables (FED_ACTION last), or null to set nothing (a failed step). Logs every request.
 */
export async function steppingAgent (next: (args: string[], n: number, s: AgiScript) => Array<[string, string]> | null | Promise<Array<[string, string]> | null>) {
  const log: StepLog[] = []
  let n = 0
  const agent = await fakeAgent(async (s) => {
    const script = s.env.agi_network_script ?? ''
    const args = [1, 2, 3, 4, 5].map((i) => s.env[`agi_arg_${i}`] ?? '')
    const got = await s.cmd('GET VARIABLE FED_STATE')
    const m = /^200 result=1 \((.*)\)$/.exec(got)
    const entry: StepLog = { script, args, env: s.env, state: m ? m[1] : undefined }
    log.push(entry)
    if (script === 'step') {
      const vars = await next(args, ++n, s)
      if (vars) {
        await s.cmd(`SET VARIABLE FED_STATE ${q(`s${n}`)}`)
        for (const [k, v] of vars) await s.cmd(`SET VARIABLE ${k} ${q(v)}`)
      }
    }
    s.close()
  })
  return { ...agent, log }
}
