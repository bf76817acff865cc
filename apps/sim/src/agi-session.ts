import { connect } from 'node:net'
import { AGI, envBlock, parseArgs, usage } from './agi-protocol.ts'

// One AGI() invocation over FastAGI: connect to the script's host, send the environment, answer
// its commands against the call's channel until it closes the connection. While the script
// runs the call may hang up; like res_agi we then send "HANGUP" once and refuse commands that
// need a live channel with 511 (variable access stays allowed, as on a real dead channel).

export interface AgiChannel {
  readonly dead: boolean
  getVar: (name: string) => string | undefined
  setVar: (name: string, value: string) => void
  /** ChannelState number (6 = Up). */
  state: () => number
  answer: () => void
  /** The script asked to hang up (AGI HANGUP). */
  hangup: () => void
  /** Called when the call hangs up while the session runs; returns an unsubscribe function. */
  onHangup: (cb: () => void) => () => void
  /** Plays one prompt for STREAM FILE; resolves with the digit pressed ('' for none). */
  streamFile?: (file: string, escapeDigits: string) => Promise<string>
}

export type AgiStatus = 'SUCCESS' | 'FAILURE' | 'HANGUP'

export interface AgiRun {
  status: AgiStatus
  /** Commands answered. */
  commands: number
  /** Why the run failed (connect refused, timeout), for logs. */
  error?: string
}

export interface AgiOptions {
  host: string
  port: number
  /** The path after the port in agi://host:port/script (agi_network_script). */
  script: string
  /** agi_* values without the prefix, in Asterisk's order (network/script lines are added here). */
  env: Record<string, string>
  args: readonly string[]
  channel: AgiChannel
  /** res_agi gives up connecting after this (MAX_AGI_CONNECT is 2000 ms). */
  connectTimeoutMs?: number
  /** Real Asterisk would wait forever for a silent script; the sim gives up and counts an error. */
  sessionTimeoutMs?: number
}

interface Command {
  words: string[]
  /** Allowed on a dead channel (res_agi's `dead` flag). */
  dead: boolean
  usage: string
  run: (ch: AgiChannel, argv: string[]) => string | null | Promise<string | null>
}

const R = (n: number | string, extra = ''): string => `200 result=${n}${extra}\n`

// Variables Asterisk computes rather than stores.
function builtin (ch: AgiChannel, name: string): string | undefined {
  return ch.getVar(name)
}

function expand (ch: AgiChannel, expr: string): string {
  return expr.replace(/\$\{([^}]+)\}/g, (_, name: string) => builtin(ch, name) ?? '')
}

const COMMANDS: Command[] = [
  { words: ['answer'], dead: false, usage: 'Usage: ANSWER', run: (ch) => { ch.answer(); return R(0) } },
  { words: ['asyncagi', 'break'], dead: true, usage: 'Usage: ASYNCAGI BREAK', run: () => R(0) },
  { words: ['channel', 'status'], dead: false, usage: 'Usage: CHANNEL STATUS [<channelname>]', run: (ch) => R(ch.state()) },
  { words: ['database', 'get'], dead: true, usage: 'Usage: DATABASE GET <family> <key>', run: (_, a) => a.length !== 4 ? null : R(0) },
  { words: ['database', 'put'], dead: true, usage: 'Usage: DATABASE PUT <family> <key> <value>', run: (_, a) => a.length !== 5 ? null : R(1) },
  { words: ['database', 'del'], dead: true, usage: 'Usage: DATABASE DEL <family> <key>', run: (_, a) => a.length !== 4 ? null : R(0) },
  {
    words: ['exec'],
    dead: true,
    usage: 'Usage: EXEC <application> <options>',
    run: (ch, a) => {
      if (a.length < 2) return null
      // Set() is the one application scripts run through EXEC that changes what we model.
      if (a[1]!.toLowerCase() === 'set' && a[2]) {
        const eq = a[2].indexOf('=')
        if (eq > 0) ch.setVar(a[2].slice(0, eq), a[2].slice(eq + 1))
      }
      return R(0)
    },
  },
  {
    words: ['get', 'full', 'variable'],
    dead: true,
    usage: 'Usage: GET FULL VARIABLE <expression> [<channelname>]',
    run: (ch, a) => a.length < 4 || a.length > 5 ? null : R(1, ` (${expand(ch, a[3]!)})`),
  },
  {
    words: ['get', 'variable'],
    dead: true,
    usage: 'Usage: GET VARIABLE <variablename>',
    run: (ch, a) => {
      if (a.length !== 3) return null
      const v = builtin(ch, a[2]!)
      return v === undefined ? R(0) : R(1, ` (${v})`)
    },
  },
  { words: ['hangup'], dead: false, usage: 'Usage: HANGUP [<channelname>]', run: (ch) => { ch.hangup(); return R(1) } },
  { words: ['noop'], dead: true, usage: 'Usage: NOOP', run: () => R(0) },
  {
    words: ['set', 'variable'],
    dead: true,
    usage: 'Usage: SET VARIABLE <variablename> <value>',
    run: (ch, a) => {
      if (a.length !== 4) return null
      ch.setVar(a[2]!, a[3]!)
      return R(1)
    },
  },
  {
    words: ['stream', 'file'],
    dead: false,
    usage: 'Usage: STREAM FILE <filename> <escape_digits> [<sample offset>]',
    run: async (ch, a) => {
      if (a.length < 4 || a.length > 5) return null
      const digit = ch.streamFile ? await ch.streamFile(a[2]!, a[3]!) : ''
      if (ch.dead) return R(-1, ' endpos=0')
      return R(digit ? digit.charCodeAt(0) : 0, ' endpos=8000')
    },
  },
  { words: ['verbose'], dead: true, usage: 'Usage: VERBOSE <message> <level>', run: (_, a) => a.length < 2 || a.length > 3 ? null : R(1) },
  { words: ['wait', 'for', 'digit'], dead: false, usage: 'Usage: WAIT FOR DIGIT <timeout>', run: (_, a) => a.length !== 4 ? null : R(0) },
]

function findCommand (argv: string[]): Command | undefined {
  let best: Command | undefined
  for (const c of COMMANDS) {
    if (c.words.length > argv.length) continue
    if (!c.words.every((w, i) => argv[i]!.toLowerCase() === w)) continue
    if (!best || c.words.length > best.words.length) best = c
  }
  return best
}

/** Runs one FastAGI invocation; never throws (a failure is AGISTATUS=FAILURE). */
export function runAgi (o: AgiOptions): Promise<AgiRun> {
  return new Promise<AgiRun>((resolve) => {
    const ch = o.channel
    const startedDead = ch.dead
    let commands = 0
    let connected = false
    let finished = false
    let pending: Promise<void> = Promise.resolve()
    let buf = ''
    let sentHangup = false

    const socket = connect({ host: o.host, port: o.port, noDelay: true })
    socket.setEncoding('utf8')
    const connectTimer = setTimeout(() => finish('FAILURE', `connect to ${o.host}:${o.port} timed out`), o.connectTimeoutMs ?? 2000)
    let sessionTimer: NodeJS.Timeout | undefined

    const write = (s: string): void => {
      if (!socket.destroyed && socket.writable) socket.write(s)
    }
    const unsubscribe = ch.onHangup(() => {
      // res_agi notices the hangup while waiting for the script and tells it once.
      if (!connected || sentHangup || startedDead) return
      sentHangup = true
      const sighup = ch.getVar('AGISIGHUP')
      if (sighup === undefined || !/^(no|false|0|off)$/i.test(sighup)) write(AGI.HANGUP)
    })

    function finish (status: AgiStatus, error?: string): void {
      if (finished) return
      finished = true
      clearTimeout(connectTimer)
      if (sessionTimer) clearTimeout(sessionTimer)
      unsubscribe()
      socket.destroy()
      resolve({ status: status === 'SUCCESS' && ch.dead && !startedDead ? 'HANGUP' : status, commands, error })
    }

    socket.on('connect', () => {
      connected = true
      clearTimeout(connectTimer)
      sessionTimer = setTimeout(() => finish('FAILURE', 'AGI script did not finish in time'), o.sessionTimeoutMs ?? 30000)
      write(envBlock({ network: 'yes', network_script: o.script, ...o.env }, o.args))
    })
    socket.on('error', (err) => finish('FAILURE', err.message))
    socket.on('close', () => {
      // Answer what was already read, then report.
      pending.then(() => finish('SUCCESS'), () => finish('SUCCESS'))
    })
    socket.on('data', (chunk: string) => {
      buf += chunk
      if (buf.length > 1024 * 1024) return finish('FAILURE', 'AGI command line too long')
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '')
        buf = buf.slice(nl + 1)
        if (line.trim() === '') continue
        pending = pending.then(() => answer(line))
      }
    })

    async function answer (line: string): Promise<void> {
      if (finished) return
      commands++
      const argv = parseArgs(line)
      const cmd = findCommand(argv)
      if (!cmd) return write(AGI.INVALID)
      if (ch.dead && !cmd.dead) return write(AGI.DEAD)
      const out = await cmd.run(ch, argv)
      write(out ?? usage(cmd.usage))
    }
  })
}
