import pino, { type Logger } from 'pino'
import { createAmiServer, type AmiServer, type OriginateRequest, type OriginateResult } from './ami-server.ts'
import { SimCall, type CallEnv, type EndReason } from './call.ts'
import { drawCallee, drawOriginate, drawSec, ORIGINATE_REASON } from './callee.ts'
import { snapshotFields, type SimChannel } from './channel.ts'
import type { Clock, Timer } from './clock.ts'
import type { Profile } from './profile.ts'
import type { Rng } from './prng.ts'
import { createPromptChecker } from './sounds.ts'
import { bump, copyStats, emptyStats, type SimStats } from './stats.ts'

// One simulated Asterisk: an AMI server, the calls in its dialplan, a capacity, and an
// optional stream of inbound calls. All of its timing goes through the fleet's clock.

export interface InstanceOptions {
  id: string
  capacity: number
  clock: Clock
  rng: Rng
  profile: Profile
  /** Where the agent's FastAGI server listens (the dialplan's agi://127.0.0.1:4573). */
  agiTarget: { host: string, port: number }
  /** AMI port; 0 picks a free one. */
  amiPort?: number
  amiHost?: string
  /** AMI users (username -> secret). */
  amiUsers?: Record<string, string>
  /** Checked for every prompt a step plays (missing ones are counted and logged). */
  soundsDir?: string
  /** Where `record` actions write (else the path the dialplan gives). */
  recordingsDir?: string
  /** Inbound calls at `cps` (simulated calls per second, Poisson) to `number`. */
  inbound?: { cps: number, number: string, context?: string }
  asteriskVersion?: string
  amiVersion?: string
  maxSteps?: number
  sorryPrompt?: string
  sorryCause?: number
  agiConnectTimeoutMs?: number
  agiSessionTimeoutMs?: number
  logger?: Logger
  /** Counters shared by every instance of a fleet (fleet-wide active and peak). */
  shared?: { active: number, peak: number }
}

export interface SimInstance {
  readonly id: string
  /** The AMI port (after start). */
  readonly amiPort: number
  readonly capacity: number
  /** Listens on AMI and, unless `inbound` is false, starts the inbound stream. */
  start: (opts?: { inbound?: boolean }) => Promise<void>
  /** Starts the inbound stream (when start() was told not to). Idempotent. */
  startInbound: () => void
  /** Stops new calls, lets live ones end until `graceMs` (real ms), then cuts the rest. Idempotent. */
  stop: (opts?: { graceMs?: number }) => Promise<void>
  /** Places one inbound call now; false when the instance is full or stopping. */
  placeInbound: (opts?: { number?: string, callerId?: string }) => boolean
  /** Calls and ringing attempts holding a channel. */
  active: () => number
  stats: () => SimStats
  /** The live calls (for tests). */
  calls: () => SimCall[]
  /** Points later AGI requests at another agent (e.g. one started after the instance). */
  setAgiTarget: (target: { host: string, port: number }) => void
}

const CAUSE_TEXT: Record<number, string> = {
  1: 'Unallocated (unassigned) number',
  16: 'Normal Clearing',
  17: 'User busy',
  19: 'User alerting, no answer',
  21: 'Call Rejected',
  34: 'Circuit/channel congestion',
  41: 'Temporary failure',
}

const FAILURE_CAUSE: Record<string, number> = { busy: 17, noanswer: 19, congestion: 34, unavailable: 1 }

interface Attempt { channel: SimChannel, timer?: Timer, settle?: (cancelled: boolean) => void }

export function createInstance (o: InstanceOptions): SimInstance {
  const logger = (o.logger ?? pino({ level: 'silent' })).child({ instance: o.id })
  const { clock, profile } = o
  const stats = emptyStats()
  const shared = o.shared ?? { active: 0, peak: 0 }
  const calls = new Map<string, SimCall>()
  const attempts = new Set<Attempt>()
  const legs = new Set<SimChannel>()
  const callRng = o.rng.fork(1)
  const arrivalRng = o.rng.fork(2)
  const uniqueBase = Math.floor(Date.now() / 1000)
  let seq = 0
  let chanSeq = 0
  let stopping = false
  let stopped: Promise<void> | undefined
  let arrivals: Timer | undefined
  let idle: Array<() => void> = []
  let ami: AmiServer | undefined

  const nextUniqueid = (): string => `${uniqueBase}.${++seq}`
  const nextChannelName = (dialString: string): string => {
    const slash = dialString.indexOf('/')
    const tech = slash > 0 ? dialString.slice(0, slash) : 'PJSIP'
    const rest = slash > 0 ? dialString.slice(slash + 1) : dialString
    const at = rest.lastIndexOf('@')
    const suffix = (++chanSeq).toString(16).padStart(8, '0')
    if (tech === 'Local') return `Local/${rest}-${suffix};1`
    return `${tech}/${at >= 0 ? rest.slice(at + 1) : rest}-${suffix}`
  }
  const newChannel = (name: string, fields: Partial<SimChannel>): SimChannel => {
    const uniqueid = nextUniqueid()
    return {
      name,
      uniqueid,
      linkedid: uniqueid,
      state: 'Down',
      callerIdNum: '',
      callerIdName: '',
      connectedNum: '',
      connectedName: '',
      accountCode: '',
      context: '',
      exten: '',
      priority: 1,
      application: '',
      applicationData: '',
      bridgeId: '',
      createdAt: clock.now(),
      ...fields,
    }
  }

  const event: CallEnv['event'] = (name, fields) => ami?.event(name, fields)
  const env: CallEnv = {
    clock,
    profile,
    stats,
    logger,
    prompts: createPromptChecker(o.soundsDir),
    agi: {
      host: o.agiTarget.host,
      port: o.agiTarget.port,
      connectTimeoutMs: o.agiConnectTimeoutMs ?? 2000,
      sessionTimeoutMs: o.agiSessionTimeoutMs ?? 30000,
    },
    asteriskVersion: o.asteriskVersion ?? '20.11.0',
    recordingsDir: o.recordingsDir,
    maxSteps: o.maxSteps ?? 500,
    sorryPrompt: o.sorryPrompt ?? 'federate/sorry',
    sorryCause: o.sorryCause ?? 41,
    gotoTalk: () => drawSec(callRng, profile.dial.talk),
    nextChannelName,
    nextUniqueid,
    event,
    addLeg: (leg) => legs.add(leg),
    removeLeg: (leg) => legs.delete(leg),
  }

  const active = (): number => calls.size + attempts.size
  const occupy = (): void => {
    stats.active++
    if (stats.active > stats.peak) stats.peak = stats.active
    shared.active++
    if (shared.active > shared.peak) shared.peak = shared.active
  }
  const release = (): void => {
    stats.active--
    shared.active--
    if (active() === 0) {
      const waiting = idle
      idle = []
      for (const w of waiting) w()
    }
  }
  const hangupEvent = (c: SimChannel, cause: number): void => {
    event('Hangup', [...snapshotFields(c), ['Cause', cause], ['Cause-txt', CAUSE_TEXT[cause] ?? 'Unknown']])
  }

  // Starts a call in the dialplan and accounts for its end.
  const runCall = (call: SimCall, entry: { context: string, exten: string }): void => {
    calls.set(call.channel.uniqueid, call)
    setImmediate(() => {
      call.run(entry).catch((err) => logger.error({ err }, 'call crashed')).finally(() => {
        calls.delete(call.channel.uniqueid)
        bump(stats.ended, call.endReason)
        hangupEvent(call.channel, Number(call.vars.get('HANGUPCAUSE') ?? 16))
        release()
      })
    })
  }

  async function originate (req: OriginateRequest): Promise<OriginateResult> {
    const fail = (outcome: string, reason: number): OriginateResult => {
      bump(stats.originate, outcome)
      return { response: 'Failure', channel: req.channel, reason }
    }
    if (stopping || active() >= o.capacity) return fail('rejected', 0)
    const rng = callRng.fork(seq)
    const draw = drawOriginate(rng, profile, req.timeoutMs / 1000)
    if (draw.outcome === 'unavailable') {
      stats.started.outbound++
      return fail('unavailable', ORIGINATE_REASON.unavailable)
    }
    const cid = parseCallerId(req.callerId)
    const channel = newChannel(nextChannelName(req.channel), {
      state: 'Ringing',
      callerIdNum: cid.num,
      callerIdName: cid.name,
      connectedNum: req.channel.slice(req.channel.indexOf('/') + 1).split('@')[0] ?? '',
      accountCode: req.account ?? '',
      application: 'AppDial2',
      applicationData: '(Outgoing Line)',
    })
    const attempt: Attempt = { channel }
    attempts.add(attempt)
    occupy()
    stats.started.outbound++
    event('Newchannel', snapshotFields(channel))
    const cancelled = await new Promise<boolean>((resolve) => {
      attempt.settle = resolve
      attempt.timer = clock.after(draw.ringSec * 1000, () => resolve(false))
    })
    attempts.delete(attempt)
    if (cancelled || draw.outcome !== 'answer') {
      hangupEvent(channel, cancelled ? 16 : FAILURE_CAUSE[draw.outcome] ?? 16)
      release()
      return cancelled ? fail('cancelled', 1) : fail(draw.outcome, ORIGINATE_REASON[draw.outcome])
    }
    bump(stats.originate, 'answer')
    channel.state = 'Up'
    channel.application = ''
    channel.applicationData = ''
    const call = new SimCall(env, {
      channel,
      rng,
      callee: drawCallee(rng, profile, false),
      vars: req.variables,
      answered: true,
    })
    // The attempt's channel slot passes to the call (no release/occupy in between).
    runCall(call, { context: req.context, exten: req.exten })
    return { response: 'Success', channel: channel.name, reason: ORIGINATE_REASON.answer, uniqueid: channel.uniqueid, callerIdNum: cid.num, callerIdName: cid.name }
  }

  function placeInbound (opts: { number?: string, callerId?: string } = {}): boolean {
    const number = opts.number ?? o.inbound?.number ?? 's'
    if (stopping || active() >= o.capacity) {
      stats.inboundRejected++
      return false
    }
    const rng = callRng.fork(seq)
    const p = profile.inbound
    let cidNum = opts.callerId
    if (cidNum === undefined) {
      cidNum = p.callerIdPrefix
      for (let i = 0; i < p.callerIdDigits; i++) cidNum += String(rng.int(0, 9))
    }
    const context = o.inbound?.context ?? 'federate-inbound'
    const channel = newChannel(nextChannelName('PJSIP/carrier'), {
      state: 'Ring',
      callerIdNum: cidNum,
      context,
      exten: number,
    })
    occupy()
    stats.started.inbound++
    event('Newchannel', snapshotFields(channel))
    const call = new SimCall(env, { channel, rng, callee: drawCallee(rng, profile, true), dnid: number === 's' ? '' : number, answered: false })
    runCall(call, { context, exten: number })
    return true
  }

  function scheduleArrival (): void {
    const cps = o.inbound?.cps ?? 0
    if (stopping || !(cps > 0)) return
    arrivals = clock.after(arrivalRng.exp(1000 / cps), () => {
      placeInbound()
      scheduleArrival()
    })
  }

  const allChannels = function * (): Iterable<SimChannel> {
    for (const a of attempts) yield a.channel
    for (const c of calls.values()) yield c.channel
    yield * legs
  }

  const whenIdle = (ms: number): Promise<boolean> => new Promise<boolean>((resolve) => {
    if (active() === 0) return resolve(true)
    const done = (): void => { clearTimeout(t); resolve(true) }
    const t = setTimeout(() => {
      idle = idle.filter((w) => w !== done)
      resolve(false)
    }, ms)
    idle.push(done)
  })

  return {
    id: o.id,
    capacity: o.capacity,
    get amiPort () { return ami?.port ?? 0 },
    async start (opts = {}) {
      ami ??= createAmiServer({
        originate,
        channels: allChannels,
        hangup (name, cause) {
          for (const c of calls.values()) {
            if (c.channel.name === name && !c.dead) { c.hangupNow(cause, 'ami'); return true }
          }
          for (const a of attempts) {
            if (a.channel.name === name) { a.timer?.cancel(); a.settle?.(true); return true }
          }
          return false
        },
        now: () => clock.now(),
      }, {
        port: o.amiPort ?? 0,
        host: o.amiHost,
        users: o.amiUsers ?? { federate: 'federate' },
        version: o.amiVersion,
        logger,
      })
      if (ami.port === 0) await ami.listen()
      if (opts.inbound !== false) scheduleArrival()
    },
    startInbound () {
      if (!arrivals) scheduleArrival()
    },
    stop (opts = {}) {
      stopped ??= (async () => {
        stopping = true
        arrivals?.cancel()
        if (!await whenIdle(opts.graceMs ?? 0)) {
          for (const a of [...attempts]) { a.timer?.cancel(); a.settle?.(true) }
          for (const c of calls.values()) c.hangupNow(16, 'cut')
          // The hangup handlers still report call.end; wait for them a bounded time.
          if (!await whenIdle(Math.max(2000, env.agi.connectTimeoutMs + 1000))) {
            logger.warn({ left: active() }, 'calls still ending at shutdown')
          }
        }
        await ami?.close()
      })()
      return stopped
    },
    placeInbound,
    active,
    stats: () => copyStats(stats),
    calls: () => [...calls.values()],
    setAgiTarget (target) {
      env.agi.host = target.host
      env.agi.port = target.port
    },
  }
}

/** `"Name" <num>`, `Name <num>` or `num`, as Originate's CallerID. */
export function parseCallerId (raw: string | undefined): { num: string, name: string } {
  if (!raw) return { num: '', name: '' }
  const m = /^\s*"?([^"<]*?)"?\s*<([^>]*)>\s*$/.exec(raw)
  if (m) return { name: m[1]!.trim(), num: m[2]!.trim() }
  return { num: raw.trim(), name: '' }
}

export type { EndReason }
