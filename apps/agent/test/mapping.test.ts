import { test } from 'node:test'
import assert from 'node:assert/strict'
import { actionVars, eventFromArgs, parseEnvLine, parseReplyLine, promptPath, quote } from '../src/app.ts'
import { agiWords } from './helpers.ts'

test('AGI replies parse into code, result and the value between the first ( and the last )', () => {
  assert.deepEqual(parseReplyLine('200 result=1 (a (b) c)'), { code: 200, result: '1', value: 'a (b) c', raw: '200 result=1 (a (b) c)' })
  assert.deepEqual(parseReplyLine('200 result=0'), { code: 200, result: '0', raw: '200 result=0' })
  assert.deepEqual(parseReplyLine('200 result=1 ()'), { code: 200, result: '1', value: '', raw: '200 result=1 ()' })
  assert.equal(parseReplyLine('511 Command Not Permitted on a dead channel or intercept routine')!.code, 511)
  assert.equal(parseReplyLine('510 Invalid or unknown command')!.result, undefined)
  assert.equal(parseReplyLine('hello'), null)
  assert.deepEqual(parseEnvLine('agi_callerid: +1555'), ['callerid', '+1555'])
  assert.deepEqual(parseEnvLine('agi_arg_2: '), ['arg_2', ''])
  assert.deepEqual(parseEnvLine('agi_accountcode: a: b'), ['accountcode', 'a: b'])
  assert.equal(parseEnvLine('nonsense'), null)
})

test('quoted values survive res_agi argument parsing, newlines are refused', () => {
  for (const v of ['', 'plain', 'two words', 'q"uote', 'back\\slash', '\\"', 'end\\', 'a&b,c']) {
    assert.deepEqual(agiWords(`SET VARIABLE X ${quote(v)}`), ['SET', 'VARIABLE', 'X', v])
  }
  assert.throws(() => quote('a\nb'), /newline/)
})

test('dialplan outcomes become the events of the protocol', () => {
  assert.deepEqual(eventFromArgs('played', '#'), { kind: 'event', event: 'played', data: { digit: '#' } })
  assert.deepEqual(eventFromArgs('played'), { kind: 'event', event: 'played', data: {} })
  assert.deepEqual(eventFromArgs('digits', '', 'TIMEOUT'), { kind: 'event', event: 'digits', data: { digits: '', status: 'timeout' } })
  assert.deepEqual(eventFromArgs('digits', '42', 'OK'), { kind: 'event', event: 'digits', data: { digits: '42', status: 'ok' } })
  assert.equal(eventFromArgs('digits', '42', 'INTERRUPTED').kind === 'event' && (eventFromArgs('digits', '42', 'INTERRUPTED') as any).event, 'error')
  assert.deepEqual(eventFromArgs('dialed', 'ANSWER', '37'), { kind: 'event', event: 'dialed', data: { status: 'ANSWER', answeredSec: 37 } })
  assert.deepEqual(eventFromArgs('dialed', 'INVALIDARGS', ''), { kind: 'event', event: 'dialed', data: { status: 'CHANUNAVAIL' } })
  assert.deepEqual(eventFromArgs('dialed', 'TORTURE'), { kind: 'event', event: 'dialed', data: { status: 'CANCEL' } })
  assert.deepEqual(eventFromArgs('recorded', '/rec/msg-1', '12', 'SILENCE'), { kind: 'event', event: 'recorded', data: { file: 'msg-1', durationSec: 12 } })
  assert.equal((eventFromArgs('recorded', '/rec/msg-1', '1', 'ERROR') as any).event, 'error')
  assert.deepEqual(eventFromArgs('amd', 'MACHINE', 'INITIALSILENCE-2500-2500'), { kind: 'event', event: 'amd', data: { status: 'MACHINE', cause: 'INITIALSILENCE-2500-2500' } })
  assert.deepEqual(eventFromArgs('amd', 'HANGUP'), { kind: 'hangup' })
  assert.deepEqual(eventFromArgs('waited'), { kind: 'event', event: 'waited', data: {} })
  assert.equal((eventFromArgs('dialed', 'WHATEVER') as any).event, 'error')
  assert.equal((eventFromArgs('bogus') as any).event, 'error')
})

test('actions become the channel variables the dialplan reads', () => {
  const paths = { soundsDir: '/s/', recordingsDir: '/r' }
  assert.deepEqual(actionVars({ action: 'play', args: { prompts: ['a/b.wav', 'asterisk:beep'], escapeDigits: '1#' } }, paths),
    [['FED_PROMPTS', '/s/a/b&beep'], ['FED_PLAY_ESCAPE', '1#']])
  assert.deepEqual(actionVars({ action: 'record', args: { file: 'vm-1', format: 'wav', maxSec: 60, silenceSec: 3, beep: false } }, paths),
    [['FED_REC_PATH', '/r/vm-1'], ['FED_REC_FORMAT', 'wav'], ['FED_REC_SILENCE', '3'], ['FED_REC_MAX', '60'], ['FED_REC_OPTIONS', 'kq']])
  assert.deepEqual(actionVars({ action: 'goto', args: { context: 'local', extension: '100', priority: 1 } }, paths),
    [['FED_GOTO_CONTEXT', 'local'], ['FED_GOTO_EXTEN', '100'], ['FED_GOTO_PRIORITY', '1']])
  assert.deepEqual(actionVars({ action: 'amd', args: { initialSilenceMs: 2500, greetingMs: 1500, totalAnalysisMs: 5000 } }, paths),
    [['FED_AMD_INITIAL', '2500'], ['FED_AMD_GREETING', '1500'], ['FED_AMD_TOTAL', '5000']])
  for (const bad of ['../x', '/etc/passwd', 'a&b', 'a,b', 'a//b', 'x y', '']) assert.throws(() => promptPath(bad, '/s'), { code: 'FED_AGENT_BAD_ANSWER' }, bad)
})
