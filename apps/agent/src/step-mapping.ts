import { basename } from 'node:path'
import type { Action, CallEvent, ResultOf } from '@federate/protocol'
import { AgentError, AgentErrorCodes } from './errors.ts'

// The dialplan contract (infra/asterisk/CONTRACT.md §2, §3) as two pure functions: the AGI
// arguments of a step become a call.step event, and a call.step answer becomes the channel
// variables the dialplan reads.

type EventData = Record<string, string | number | boolean>

/** What the dialplan reported: an event for the tier, or a decision the agent makes alone. */
export type StepInput =
  | { kind: 'event', event: CallEvent['event'], data: EventData }
  | { kind: 'hangup' }

const DIAL = new Set(['ANSWER', 'BUSY', 'NOANSWER', 'CANCEL', 'CONGESTION', 'CHANUNAVAIL'])
const DIAL_ALIASES: Record<string, string> = { INVALIDARGS: 'CHANUNAVAIL', DONTCALL: 'CANCEL', TORTURE: 'CANCEL' }
const AMD = new Set(['HUMAN', 'MACHINE', 'NOTSURE'])

function error (message: string): StepInput {
  return { kind: 'event', event: 'error', data: { message } }
}

function seconds (text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined
  const n = Number(text)
  return Number.isFinite(n) && n >= 0 ? n : undefined
}

/** Maps `FED_EVENT` and `FED_R1..R3` to the event the tier expects. Unknown input becomes `error`. */
export function eventFromArgs (event: string, r1 = '', r2 = '', r3 = ''): StepInput {
  switch (event) {
    case 'start':
      return { kind: 'event', event: 'start', data: {} }
    case 'played':
      if (r1 === '') return { kind: 'event', event: 'played', data: {} }
      return /^[0-9*#]$/.test(r1) ? { kind: 'event', event: 'played', data: { digit: r1 } } : error(`played: bad digit ${JSON.stringify(r1)}`)
    case 'digits': {
      if (!/^[0-9*#]{0,255}$/.test(r1)) return error(`digits: bad digits ${JSON.stringify(r1.slice(0, 40))}`)
      if (r2 === 'OK') return { kind: 'event', event: 'digits', data: { digits: r1, status: 'ok' } }
      if (r2 === 'TIMEOUT') return { kind: 'event', event: 'digits', data: { digits: r1, status: 'timeout' } }
      return error(`digits: READSTATUS ${r2 || '(empty)'}`)
    }
    case 'dialed': {
      const status = DIAL_ALIASES[r1] ?? r1
      if (!DIAL.has(status)) return error(`dialed: DIALSTATUS ${r1 || '(empty)'}`)
      const answered = seconds(r2)
      return { kind: 'event', event: 'dialed', data: answered === undefined ? { status } : { status, answeredSec: answered } }
    }
    case 'recorded': {
      if (r3 === 'ERROR' || r1 === '') return error(`recorded: RECORD_STATUS ${r3 || '(empty)'}`)
      return { kind: 'event', event: 'recorded', data: { file: basename(r1).slice(0, 255), durationSec: seconds(r2) ?? 0 } }
    }
    case 'amd':
      if (r1 === 'HANGUP') return { kind: 'hangup' }
      if (!AMD.has(r1)) return error(`amd: AMDSTATUS ${r1 || '(empty)'}`)
      return { kind: 'event', event: 'amd', data: r2 ? { status: r1, cause: r2.slice(0, 80) } : { status: r1 } }
    case 'waited':
      return { kind: 'event', event: 'waited', data: {} }
    default:
      return error(`unknown event ${JSON.stringify(event.slice(0, 40))}`)
  }
}

export interface PathOptions {
  soundsDir: string
  recordingsDir: string
}

const PROMPT = /^[A-Za-z0-9_./-]{1,255}$/
const AUDIO_EXT = /\.(wav|wav16|gsm|ulaw|alaw|sln|sln16|g722|g729|mp3|ogg|opus)$/i

/** A flow's prompt name as the sound file Asterisk plays (absolute, no extension). */
export function promptPath (prompt: string, soundsDir: string): string {
  const stock = prompt.startsWith('asterisk:')
  const name = (stock ? prompt.slice('asterisk:'.length) : prompt).replace(AUDIO_EXT, '')
  if (!PROMPT.test(name) || name.split('/').some((p) => p === '..' || p === '') || name.startsWith('/')) {
    throw new AgentError(AgentErrorCodes.BAD_ANSWER, `unusable prompt name ${JSON.stringify(prompt.slice(0, 80))}`)
  }
  return stock ? name : `${soundsDir.replace(/\/+$/, '')}/${name}`
}

function num (n: number): string {
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 1000) / 1000)
}

/** The action's own variables, in the order the agent sets them (FED_ACTION is added last by the caller). */
export function actionVars (a: Action, paths: PathOptions): Array<[string, string]> {
  const prompts = (list: string[]) => list.map((p) => promptPath(p, paths.soundsDir)).join('&')
  switch (a.action) {
    case 'play':
      return [['FED_PROMPTS', prompts(a.args.prompts)], ['FED_PLAY_ESCAPE', a.args.escapeDigits]]
    case 'gather':
      return [['FED_PROMPTS', prompts(a.args.prompts)], ['FED_GATHER_MAX', String(a.args.maxDigits)], ['FED_GATHER_TIMEOUT', num(a.args.timeoutSec)]]
    case 'dial':
      return [['FED_DIAL_TO', a.args.to], ['FED_DIAL_TIMEOUT', String(a.args.timeoutSec)], ['FED_DIAL_CALLERID', a.args.callerId ?? '']]
    case 'record':
      return [
        ['FED_REC_PATH', `${paths.recordingsDir.replace(/\/+$/, '')}/${a.args.file}`],
        ['FED_REC_FORMAT', a.args.format],
        ['FED_REC_SILENCE', String(a.args.silenceSec)],
        ['FED_REC_MAX', String(a.args.maxSec)],
        ['FED_REC_OPTIONS', a.args.beep ? 'k' : 'kq'],
      ]
    case 'wait':
      return [['FED_WAIT_SEC', num(a.args.seconds)]]
    case 'amd':
      return [['FED_AMD_INITIAL', String(a.args.initialSilenceMs)], ['FED_AMD_GREETING', String(a.args.greetingMs)], ['FED_AMD_TOTAL', String(a.args.totalAnalysisMs)]]
    case 'hangup':
      return [['FED_HANGUP_CAUSE', String(a.args.cause)]]
    case 'goto':
      return [['FED_GOTO_CONTEXT', a.args.context], ['FED_GOTO_EXTEN', a.args.extension], ['FED_GOTO_PRIORITY', String(a.args.priority)]]
  }
}

/** Every variable a call.step answer sets, FED_ACTION last (a step cut short leaves it empty). */
export function stepVars (answer: ResultOf<'call.step'>, paths: PathOptions): Array<[string, string]> {
  const out: Array<[string, string]> = [['FED_STATE', answer.state]]
  for (const [k, v] of Object.entries(answer.vars ?? {})) out.push([`FED_VAR_${k}`, v])
  out.push(...actionVars({ action: answer.action, args: answer.args } as Action, paths))
  out.push(['FED_ACTION', answer.action])
  return out
}

/** The variables of the answer the agent gives alone: hang up with a Q.850 cause. */
export function hangupVars (cause: number): Array<[string, string]> {
  return [['FED_HANGUP_CAUSE', String(cause)], ['FED_ACTION', 'hangup']]
}
