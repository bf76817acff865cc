import Type from 'typebox'

// What the dialplan performs next. Each action's args are exactly what the
// state-engine loop in infra/asterisk/extensions.conf reads (see docs/protocol.md).

const Prompts = Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { minItems: 1, maxItems: 20 })

export const PlayArgs = Type.Object({
  prompts: Prompts,
  /** Digits that interrupt playback (BackGround); empty means Playback, not interruptible. */
  escapeDigits: Type.String({ pattern: '^[0-9*#]*$', maxLength: 12 }),
}, { additionalProperties: false })

export const GatherArgs = Type.Object({
  prompts: Prompts,
  maxDigits: Type.Integer({ minimum: 1, maximum: 255 }),
  timeoutSec: Type.Number({ minimum: 0.5, maximum: 120 }),
}, { additionalProperties: false })

export const DialArgs = Type.Object({
  /** An Asterisk dial string, e.g. PJSIP/+15551234567@carrier. */
  to: Type.String({ minLength: 1, maxLength: 255 }),
  timeoutSec: Type.Integer({ minimum: 1, maximum: 600 }),
  callerId: Type.Optional(Type.String({ maxLength: 80 })),
}, { additionalProperties: false })

export const RecordArgs = Type.Object({
  /** File name without extension, relative to the instance's recordings folder. */
  file: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,128}$' }),
  format: Type.Union([Type.Literal('wav'), Type.Literal('gsm'), Type.Literal('ulaw')]),
  maxSec: Type.Integer({ minimum: 1, maximum: 3600 }),
  silenceSec: Type.Integer({ minimum: 0, maximum: 60 }),
  beep: Type.Boolean(),
}, { additionalProperties: false })

export const WaitArgs = Type.Object({
  seconds: Type.Number({ minimum: 0, maximum: 3600 }),
}, { additionalProperties: false })

export const AmdArgs = Type.Object({
  initialSilenceMs: Type.Integer({ minimum: 100, maximum: 10000 }),
  greetingMs: Type.Integer({ minimum: 100, maximum: 10000 }),
  totalAnalysisMs: Type.Integer({ minimum: 500, maximum: 30000 }),
}, { additionalProperties: false })

export const HangupArgs = Type.Object({
  /** Q.850 cause code. */
  cause: Type.Integer({ minimum: 1, maximum: 127 }),
}, { additionalProperties: false })

export const GotoArgs = Type.Object({
  context: Type.String({ pattern: '^[A-Za-z0-9_-]{1,79}$' }),
  extension: Type.String({ pattern: '^[A-Za-z0-9_+*#.-]{1,79}$' }),
  priority: Type.Integer({ minimum: 1, maximum: 1000 }),
}, { additionalProperties: false })

export const ActionArgs = {
  play: PlayArgs,
  gather: GatherArgs,
  dial: DialArgs,
  record: RecordArgs,
  wait: WaitArgs,
  amd: AmdArgs,
  hangup: HangupArgs,
  goto: GotoArgs,
} as const

export type ActionName = keyof typeof ActionArgs
export const ACTION_NAMES = Object.keys(ActionArgs) as ActionName[]

/** A step's action with its typed arguments. */
export type Action =
  | { action: 'play', args: Type.Static<typeof PlayArgs> }
  | { action: 'gather', args: Type.Static<typeof GatherArgs> }
  | { action: 'dial', args: Type.Static<typeof DialArgs> }
  | { action: 'record', args: Type.Static<typeof RecordArgs> }
  | { action: 'wait', args: Type.Static<typeof WaitArgs> }
  | { action: 'amd', args: Type.Static<typeof AmdArgs> }
  | { action: 'hangup', args: Type.Static<typeof HangupArgs> }
  | { action: 'goto', args: Type.Static<typeof GotoArgs> }
