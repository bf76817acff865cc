import { basename, dirname, join } from 'node:path'
import type { Logger } from 'pino'
import { runAgi, type AgiChannel, type AgiStatus } from './agi-session.ts'
import { drawAmd, drawDial, drawGather, drawInterrupt, drawRecord, type Callee } from './callee.ts'
import { CHANNEL_STATES, snapshotFields, type SimChannel } from './channel.ts'
import type { Clock, Timer } from './clock.ts'
import type { Profile } from './profile.ts'
import type { Rng } from './prng.ts'
import type { PromptChecker } from './sounds.ts'
import { bump, type SimStats } from './stats.ts'
import { writeRecording } from './wav.ts'

// One call through the dialplan of infra/asterisk/extensions.conf (contract v1, CONTRACT.md):
// [federate-loop] start -> step (AGI /step) -> the action's application -> step ... and, once
// the channel is gone, the hangup handler [federate-hangup] (AGI /end). Everything the
// dialplan reads or writes is a channel variable here too, so the agent sees what it would
// see on a real instance.

export const LOOP_CONTEXT = 'federate-loop'
export const HANGUP_CONTEXT = 'federate-hangup'
const ACTIONS = new Set(['play', 'gather', 'dial', 'record', 'wait', 'amd', 'hangup', 'goto'])

/** What a call needs from its instance. */
export interface CallEnv {
  clock: Clock
  profile: Profile
  stats: SimStats
  logger: Logger
  prompts: PromptChecker
  agi: { host: string, port: number, connectTimeoutMs: number, sessionTimeoutMs: number }
  /** agi_version. */
  asteriskVersion: string
  recordingsDir?: string
  maxSteps: number
  sorryPrompt: string
  sorryCause: number
  /** Seconds a call stays in a local context after a `goto` (the sim has no such context). */
  gotoTalk: () => number
  /** Channel name sequence (Asterisk's 8-hex-digit suffix). */
  nextChannelName: (dialString: string) => string
  nextUniqueid: () => string
  /** AMI events. */
  event: (name: string, fields: ReadonlyArray<readonly [string, string | number | undefined]>) => void
  addLeg: (leg: SimChannel) => void
  removeLeg: (leg: SimChannel) => void
}

export type EndReason = 'hangup' | 'caller' | 'sorry' | 'goto' | 'ami' | 'cut'

export interface CallInit {
  channel: SimChannel
  rng: Rng
  callee: Callee
  /** Variables set at entry (Originate's Variable headers). */
  vars?: Record<string, string>
  dnid?: string
  answered: boolean
}

export class SimCall implements AgiChannel {
  readonly channel: SimChannel
  readonly vars = new Map<string, string>()
  dead = false
  endReason: EndReason = 'caller'
  private readonly env: CallEnv
  private readonly rng: Rng
  private readonly callee: Callee
  private readonly dnid: string
  private answeredAt: number | undefined
  private waiter: { timer: Timer, resolve: (ok: boolean) => void } | undefined
  private listeners: Array<() => void> = []
  private patience: Timer | undefined
  private leg: SimChannel | undefined
  private hangupHandler = false
  private steps = 0

  constructor (env: CallEnv, init: CallInit) {
    this.env = env
    this.channel = init.channel
    this.rng = init.rng
    this.callee = init.callee
    this.dnid = init.dnid ?? ''
    if (init.vars) for (const [k, v] of Object.entries(init.vars)) this.vars.set(k, v)
    if (init.answered) this.markAnswered()
    // An inbound caller's patience runs from the first ring; a callee's from the answer.
    else if (Number.isFinite(init.callee.hangupAtSec)) this.schedulePatience()
  }

  // --- AgiChannel ---------------------------------------------------------------------------

  getVar (name: string): string | undefined {
    const c = this.channel
    switch (name) {
      case 'CHANNEL': return c.name
      case 'UNIQUEID': return c.uniqueid
      case 'CONTEXT': return c.context
      case 'EXTEN': return c.exten
      case 'PRIORITY': return String(c.priority)
      case 'EPOCH': return String(Math.floor(this.env.clock.epochSec()))
      case 'CALLERID(num)': return c.callerIdNum
      case 'CALLERID(name)': return c.callerIdName
      case 'CHANNEL(state)': return c.state
      case 'CHANNEL(linkedid)': return c.linkedid
    }
    return this.vars.get(name)
  }

  setVar (name: string, value: string): void {
    if (this.vars.size >= 512 && !this.vars.has(name)) return
    this.vars.set(name, value)
  }

  state (): number {
    return CHANNEL_STATES[this.channel.state]
  }

  answer (): void {
    if (this.answeredAt === undefined) this.markAnswered()
  }

  hangup (): void {
    this.hangupNow(16, 'hangup')
  }

  onHangup (cb: () => void): () => void {
    this.listeners.push(cb)
    return () => {
      const i = this.listeners.indexOf(cb)
      if (i >= 0) this.listeners.splice(i, 1)
    }
  }

  async streamFile (file: string, escapeDigits: string): Promise<string> {
    this.answer()
    this.checkPrompts([file])
    const sec = this.env.profile.play.promptSec
    const hit = drawInterrupt(this.rng, this.env.profile, this.callee, escapeDigits, sec)
    await this.sleep(hit.atSec * 1000)
    return this.dead ? '' : hit.digit
  }

  // --- lifecycle ---------------------------------------------------------------------------

  /** Ends the call now (any side); what runs next is the hangup handler. Idempotent. */
  hangupNow (cause: number, reason: EndReason): void {
    if (this.dead) return
    this.dead = true
    this.endReason = reason
    this.vars.set('HANGUPCAUSE', String(cause))
    this.patience?.cancel()
    const w = this.waiter
    this.waiter = undefined
    if (w) { w.timer.cancel(); w.resolve(false) }
    for (const cb of [...this.listeners]) cb()
  }

  /** Runs the call from `federate-loop,start` to the end of its hangup handler. */
  async run (entry: { context: string, exten: string }): Promise<void> {
    try {
      await this.loop(entry)
    } catch (err) {
      this.env.logger.error({ err, channel: this.channel.name }, 'simulated call failed')
      this.hangupNow(41, 'sorry')
    }
    if (!this.dead) this.hangupNow(16, 'hangup')
    this.endLeg()
    await this.runHangupHandler()
  }

  /** Seconds since the channel was created and since answer, as CDR(duration) and CDR(billsec). */
  cdr (): { duration: number, billsec: number } {
    const now = this.env.clock.now()
    return {
      duration: Math.floor((now - this.channel.createdAt) / 1000),
      billsec: this.answeredAt === undefined ? 0 : Math.floor((now - this.answeredAt) / 1000),
    }
  }

  // --- the dialplan ----------------------------------------------------------------------

  private async loop (entry: { context: string, exten: string }): Promise<void> {
    // [federate-inbound]: Set(FED_DIALED=${EXTEN}), then (and [federate-campaign]) Goto(federate-loop,start,1)
    if (entry.context !== 'federate-campaign' && entry.exten !== 's') this.vars.set('FED_DIALED', entry.exten)
    this.where(entry.context, entry.exten, 1, 'Goto', `${LOOP_CONTEXT},start,1`)
    this.where(LOOP_CONTEXT, 'start', 1, 'Set', `FED_T0=${this.epoch()}`)
    // start,2: Set(CHANNEL(hangup_handler_push)=federate-hangup,s,1)
    this.vars.set('FED_T0', String(this.epoch()))
    this.hangupHandler = true
    this.vars.set('FED_EVENT', 'start')
    this.vars.set('FED_R1', this.vars.get('FED_CAMPAIGN') ?? '')
    this.vars.set('FED_R2', this.vars.get('FED_FLOWREF') ?? '')
    this.vars.set('FED_R3', this.vars.get('FED_DIALED') ?? '')

    this.vars.set('FED_STEPS', '0')

    while (!this.dead) {
      // exten => step,1 .. n: count, bound the loop, clear FED_ACTION, ask the agent.
      this.steps++
      this.vars.set('FED_STEPS', String(this.steps))
      if (this.steps > this.env.maxSteps) return await this.sorry()
      this.vars.set('FED_ACTION', '')
      const status = await this.agi('step', LOOP_CONTEXT, 'step', 4, [
        this.v('FED_EVENT'), this.v('FED_CALLID'), this.v('FED_R1'), this.v('FED_R2'), this.v('FED_R3'),
      ])
      this.env.stats.steps++
      if (this.dead) return
      const action = this.v('FED_ACTION')
      // GotoIf(AGISTATUS != SUCCESS), GotoIf(FED_ACTION = ""), and `i` for an unknown action.
      if (status !== 'SUCCESS' || action === '' || !ACTIONS.has(action)) return await this.sorry()
      this.vars.set('FED_R1', '')
      this.vars.set('FED_R2', '')
      this.vars.set('FED_R3', '')
      bump(this.env.stats.actions, action)
      const more = await this.perform(action)
      if (!more) return
    }
  }

  /** Runs one action's application; false when the call left the loop. */
  private async perform (action: string): Promise<boolean> {
    const p = this.env.profile
    switch (action) {
      case 'play': {
        const raw = this.v('FED_PROMPTS')
        const prompts = this.checkPrompts(raw.split('&').filter(Boolean))
        const escape = this.v('FED_PLAY_ESCAPE')
        this.answer()
        const playSec = prompts * p.play.promptSec
        if (escape === '') {
          this.where(LOOP_CONTEXT, 'play', 2, 'Playback', raw)
          if (!await this.sleep(playSec * 1000)) return false
          this.report('played', '', '', '')
        } else {
          this.where(LOOP_CONTEXT, 'play', 5, 'Read', `FED_DIGITS,${raw},1,t,1,0.05`)
          const hit = drawInterrupt(this.rng, p, this.callee, escape, playSec)
          if (!await this.sleep((hit.digit ? hit.atSec : playSec + 0.05) * 1000)) return false
          this.vars.set('FED_DIGITS', hit.digit)
          this.vars.set('READSTATUS', hit.digit ? 'OK' : 'TIMEOUT')
          this.report('played', hit.digit && escape.includes(hit.digit) ? hit.digit : '', '', '')
        }
        return true
      }
      case 'gather': {
        const raw = this.v('FED_PROMPTS')
        const list = raw.split('&').filter(Boolean)
        const prompts = this.checkPrompts(list)
        const max = clampInt(this.v('FED_GATHER_MAX'), 1, 255, 1)
        const timeout = clampNum(this.v('FED_GATHER_TIMEOUT'), 0, 3600, 5)
        this.answer()
        this.where(LOOP_CONTEXT, 'gather', 1, 'Read', `FED_DIGITS,${raw},${max},,1,${this.v('FED_GATHER_TIMEOUT')}`)
        const g = drawGather(this.rng, p, this.callee, list, max, timeout)
        if (!await this.sleep((prompts * p.play.promptSec + g.afterSec) * 1000)) return false
        this.vars.set('FED_DIGITS', g.digits)
        this.vars.set('READSTATUS', g.status === 'ok' ? 'OK' : 'TIMEOUT')
        this.report('digits', g.digits, g.status === 'ok' ? 'OK' : 'TIMEOUT', '')
        return true
      }
      case 'dial': return await this.dial()
      case 'record': return await this.record()
      case 'wait': {
        const sec = clampNum(this.v('FED_WAIT_SEC'), 0, 86400, 0)
        this.where(LOOP_CONTEXT, 'wait', 1, 'Wait', this.v('FED_WAIT_SEC'))
        if (!await this.sleep(sec * 1000)) return false
        this.report('waited', '', '', '')
        return true
      }
      case 'amd': {
        const total = clampInt(this.v('FED_AMD_TOTAL'), 500, 30000, 5000)
        this.where(LOOP_CONTEXT, 'amd', 1, 'AMD', `${this.v('FED_AMD_INITIAL')},${this.v('FED_AMD_GREETING')},,${total}`)
        const r = drawAmd(this.rng, p, this.callee, total)
        if (!await this.sleep(Math.min(p.amd.analysisSec * 1000, total))) return false
        bump(this.env.stats.amd, r.status)
        this.vars.set('AMDSTATUS', r.status)
        this.vars.set('AMDCAUSE', r.cause)
        this.report('amd', r.status, r.cause, '')
        return true
      }
      case 'hangup': {
        const cause = clampInt(this.v('FED_HANGUP_CAUSE'), 1, 127, 16)
        this.where(LOOP_CONTEXT, 'hangup', 1, 'Hangup', String(cause))
        this.hangupNow(cause, 'hangup')
        return false
      }
      case 'goto': {
        const ctx = this.v('FED_GOTO_CONTEXT')
        const exten = this.v('FED_GOTO_EXTEN')
        const prio = clampInt(this.v('FED_GOTO_PRIORITY'), 1, 1000, 1)
        this.where(ctx, exten, prio, 'Wait', '')
        // The sim has no local contexts: the call stays there a while, then clears normally.
        if (!await this.sleep(this.env.gotoTalk() * 1000)) return false
        this.hangupNow(16, 'goto')
        return false
      }
    }
    return false
  }

  private async dial (): Promise<boolean> {
    const p = this.env.profile
    const to = this.v('FED_DIAL_TO')
    const timeout = clampInt(this.v('FED_DIAL_TIMEOUT'), 1, 3600, 30)
    const cid = this.v('FED_DIAL_CALLERID')
    if (cid !== '') this.channel.connectedNum = cid
    this.where(LOOP_CONTEXT, 'dial', 2, 'Dial', `${to},${timeout},g`)
    const d = /^[^/]+\/.+/.test(to) ? drawDial(this.rng, p, timeout) : { status: 'CHANUNAVAIL' as const, ringSec: 0, talkSec: 0 }
    if (d.status !== 'CHANUNAVAIL') {
      const leg: SimChannel = {
        ...this.channel,
        name: this.env.nextChannelName(to),
        uniqueid: this.env.nextUniqueid(),
        state: 'Ringing',
        callerIdNum: to.slice(to.indexOf('/') + 1).split('@')[0] ?? '',
        callerIdName: '',
        connectedNum: cid || this.channel.callerIdNum,
        connectedName: this.channel.callerIdName,
        context: LOOP_CONTEXT,
        exten: 'dial',
        priority: 1,
        application: 'AppDial',
        applicationData: '(Outgoing Line)',
        createdAt: this.env.clock.now(),
      }
      this.leg = leg
      this.env.addLeg(leg)
      this.env.event('Newchannel', snapshotFields(leg))
    }
    const rang = await this.sleep(d.ringSec * 1000)
    if (!rang) return false
    let answeredSec = ''
    if (d.status === 'ANSWER' && this.leg) {
      const bridge = `${this.channel.uniqueid}-bridge`
      this.leg.state = 'Up'
      this.leg.bridgeId = bridge
      this.channel.bridgeId = bridge
      this.answer()
      const talked = await this.sleep(d.talkSec * 1000)
      answeredSec = String(Math.floor(d.talkSec))
      this.channel.bridgeId = ''
      if (!talked) return false
    }
    this.endLeg()
    bump(this.env.stats.dial, d.status)
    this.vars.set('DIALSTATUS', d.status)
    this.vars.set('ANSWEREDTIME', answeredSec)
    this.report('dialed', d.status, answeredSec, '')
    return true
  }

  private async record (): Promise<boolean> {
    const p = this.env.profile
    const path = this.v('FED_REC_PATH')
    const format = this.v('FED_REC_FORMAT') || 'wav'
    const silence = clampInt(this.v('FED_REC_SILENCE'), 0, 3600, 0)
    const max = clampInt(this.v('FED_REC_MAX'), 0, 86400, 0)
    const options = this.v('FED_REC_OPTIONS')
    this.vars.set('FED_T1', String(this.epoch()))
    const t1 = this.epoch()
    this.answer()
    this.where(LOOP_CONTEXT, 'record', 2, 'Record', `${path}.${format},${silence},${max},${options}`)
    // Asterisk writes where the dialplan says; an instance with its own recordings folder
    // keeps the file name and puts it there (the agent of that instance reads the same folder).
    const target = this.env.recordingsDir ? join(this.env.recordingsDir, basename(path)) : path
    const bad = path === '' || !/^(wav|gsm|ulaw)$/.test(format) || dirname(target) === '.'
    const beepSec = options.includes('q') ? 0 : 0.5
    const speak = drawRecord(this.rng, p, this.callee)
    let sec = silence > 0 ? speak + silence : Infinity
    let status = silence > 0 ? 'SILENCE' : 'TIMEOUT'
    if (max > 0 && sec > max) { sec = max; status = 'TIMEOUT' }
    if (!Number.isFinite(sec)) sec = 3600 // no max and no silence: until the caller hangs up
    const t0 = this.env.clock.now()
    const completed = bad ? true : await this.sleep((beepSec + sec) * 1000)
    const recordedSec = (this.env.clock.now() - t0) / 1000 - beepSec
    if (!bad && (completed || options.includes('k'))) {
      try {
        await writeRecording(`${target}.${format}`, format, Math.max(0, recordedSec), p.record.tone)
        this.env.stats.recordings++
      } catch (err) {
        this.env.logger.error({ err, file: target }, 'could not write the simulated recording')
        status = 'ERROR'
      }
    }
    if (bad) status = 'ERROR'
    if (!completed) return false
    this.vars.set('RECORDED_FILE', target)
    this.vars.set('RECORD_STATUS', status)
    this.report('recorded', target, String(this.epoch() - t1), status)
    return true
  }

  private async sorry (): Promise<void> {
    this.env.stats.sorry++
    this.where(LOOP_CONTEXT, 'sorry', 2, 'Playback', this.env.sorryPrompt)
    this.answer()
    // Playback(${FED_SORRY}), and the stock fallback when it is missing.
    const found = this.checkPrompts([this.env.sorryPrompt]) > 0
    this.vars.set('PLAYBACKSTATUS', found ? 'SUCCESS' : 'FAILED')
    if (!found) this.where(LOOP_CONTEXT, 'sorry', 3, 'Playback', 'an-error-has-occurred')
    if (!await this.sleep(this.env.profile.play.promptSec * 1000)) return
    this.where(LOOP_CONTEXT, 'sorry', 4, 'Hangup', String(this.env.sorryCause))
    this.hangupNow(this.env.sorryCause, 'sorry')
  }

  private async runHangupHandler (): Promise<void> {
    if (!this.hangupHandler) return
    const callId = this.v('FED_CALLID')
    this.where(HANGUP_CONTEXT, 's', 1, 'GotoIf', '')
    if (callId === '') return // the tier never saw the call
    const { duration, billsec } = this.cdr()
    const elapsed = this.epoch() - Number(this.vars.get('FED_T0') ?? this.epoch())
    await this.agi('end', HANGUP_CONTEXT, 's', 2, [callId, this.v('HANGUPCAUSE'), String(duration), String(billsec), String(elapsed)])
  }

  // --- helpers -----------------------------------------------------------------------------

  private async agi (script: 'step' | 'end', context: string, exten: string, priority: number, args: string[]): Promise<AgiStatus> {
    const { host, port, connectTimeoutMs, sessionTimeoutMs } = this.env.agi
    const url = `agi://${host}:${port}/${script}`
    this.where(context, exten, priority, 'AGI', [url, ...args].join(','))
    const c = this.channel
    const env = {
      request: url,
      channel: c.name,
      language: 'en',
      type: c.name.slice(0, c.name.indexOf('/')),
      uniqueid: c.uniqueid,
      version: this.env.asteriskVersion,
      callerid: c.callerIdNum || 'unknown',
      calleridname: c.callerIdName || 'unknown',
      callingpres: '0',
      callingani2: '0',
      callington: '0',
      callingtns: '0',
      dnid: this.dnid || 'unknown',
      rdnis: 'unknown',
      context,
      extension: exten,
      priority: String(c.priority),
      enhanced: '0.0',
      accountcode: c.accountCode,
      threadid: String(140000000000000 + (Number(c.uniqueid.split('.')[1]) || 0)),
    }
    this.env.stats.agiSessions++
    const run = await runAgi({ host, port, script, env, args, channel: this, connectTimeoutMs, sessionTimeoutMs })
    this.vars.set('AGISTATUS', run.status)
    if (run.status === 'FAILURE') {
      this.env.stats.agiErrors++
      this.env.logger.warn({ channel: c.name, script, error: run.error }, 'AGI failed')
    }
    return run.status
  }

  /** Resolves true after `ms` simulated ms, false at once if the call hangs up first. */
  private sleep (ms: number): Promise<boolean> {
    if (this.dead) return Promise.resolve(false)
    if (ms <= 0) return Promise.resolve(true)
    return new Promise<boolean>((resolve) => {
      const timer = this.env.clock.after(ms, () => {
        this.waiter = undefined
        resolve(true)
      })
      this.waiter = { timer, resolve }
    })
  }

  private markAnswered (): void {
    this.answeredAt = this.env.clock.now()
    this.channel.state = 'Up'
    if (this.patience === undefined && Number.isFinite(this.callee.hangupAtSec)) this.schedulePatience()
  }

  private schedulePatience (): void {
    this.patience = this.env.clock.after(this.callee.hangupAtSec * 1000, () => this.hangupNow(16, 'caller'))
  }

  private endLeg (): void {
    const leg = this.leg
    if (!leg) return
    this.leg = undefined
    this.channel.bridgeId = ''
    this.env.removeLeg(leg)
    this.env.event('Hangup', [...snapshotFields(leg), ['Cause', 16], ['Cause-txt', 'Normal Clearing']])
  }

  /** Counts prompts the instance does not hold; returns how many will play. */
  private checkPrompts (prompts: string[]): number {
    let n = 0
    for (const prompt of prompts) {
      if (this.env.prompts.exists(prompt)) { n++; continue }
      this.env.stats.missingPrompts++
      this.env.logger.error({ prompt, channel: this.channel.name }, 'prompt missing on the instance')
      // Playback stops at the first file it cannot open.
      break
    }
    return n
  }

  private report (event: string, r1: string, r2: string, r3: string): void {
    this.vars.set('FED_EVENT', event)
    this.vars.set('FED_R1', r1)
    this.vars.set('FED_R2', r2)
    this.vars.set('FED_R3', r3)
  }

  private where (context: string, exten: string, priority: number, app: string, data: string): void {
    const c = this.channel
    c.context = context
    c.exten = exten
    c.priority = priority
    c.application = app
    c.applicationData = data
  }

  private v (name: string): string {
    return this.vars.get(name) ?? ''
  }

  private epoch (): number {
    return Math.floor(this.env.clock.epochSec())
  }
}

function clampInt (raw: string, min: number, max: number, dflt: number): number {
  const n = Number.parseInt(raw, 10)
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : dflt
}

function clampNum (raw: string, min: number, max: number, dflt: number): number {
  const n = Number.parseFloat(raw)
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : dflt
}
