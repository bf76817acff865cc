/* eslint-disable no-template-curly-in-string -- descriptions mention ${name} placeholders */
import Type from 'typebox'

// The flow document format (federate.flow/1). Types come from these schemas so the validator,
// the engine and the published JSON Schema never drift. Limits match the protocol's action
// arguments (packages/protocol/src/actions.ts) so a valid flow yields valid actions.

export const FLOW_FORMAT = 'federate.flow/1'

export const NODE_ID_PATTERN = '^[A-Za-z0-9_-]{1,64}$'
/** Variable names: what the dialplan accepts as FED_VAR_<name>; never `__proto__`. */
export const VAR_NAME_PATTERN = '^(?!__proto__$)[A-Za-z0-9_]{1,64}$'
const DIGITS_KEY_PATTERN = '^[0-9*#]{1,32}$'

/** Defaults the engine applies where a node leaves a field out. */
export const DEFAULTS = {
  play: { interruptible: false },
  gather: { timeoutSec: 5, retries: 2, finishKey: '#', freeMaxDigits: 20 },
  dial: { timeoutSec: 30 },
  record: { file: 'rec', format: 'wav', maxSec: 60, silenceSec: 5, beep: true },
  wait: { seconds: 1 },
  amd: { initialSilenceMs: 2500, greetingMs: 1500, totalAnalysisMs: 5000 },
  http: { method: 'GET', timeoutMs: 3000 },
  hangup: { cause: 16 },
  goto: { priority: 1 },
} as const

const Ref = (description = 'id of the node to go to') => Type.String({ pattern: NODE_ID_PATTERN, description })
const VarName = Type.String({ pattern: VAR_NAME_PATTERN })
const Label = Type.Optional(Type.String({ maxLength: 200, description: 'free text for people reading the flow' }))
const Prompt = Type.String({ minLength: 1, maxLength: 255, description: 'prompt name: [A-Za-z0-9_/-], may use ${var}' })
const Prompts = Type.Array(Prompt, { minItems: 1, maxItems: 10 })
const DigitBranches = Type.Record(Type.String({ pattern: DIGITS_KEY_PATTERN }), Ref(), { additionalProperties: false })
const SaveAs = Type.Optional(Type.String({ pattern: VAR_NAME_PATTERN, description: 'variable and result key the outcome is saved as' }))
const Next = Type.Optional(Ref('the node after this one; without it the call hangs up'))

export const PlayNodeSchema = Type.Object({
  type: Type.Literal('play'),
  label: Label,
  prompts: Prompts,
  interruptible: Type.Optional(Type.Boolean({ default: false, description: 'any digit stops the playback' })),
  escapeDigits: Type.Optional(Type.String({ pattern: '^[0-9*#]{0,12}$', description: 'the digits that stop the playback' })),
  digits: Type.Optional(Type.Record(Type.String({ pattern: '^[0-9*#]$' }), Ref(), { additionalProperties: false })),
  next: Next,
}, { additionalProperties: false })

export const GatherNodeSchema = Type.Object({
  type: Type.Union([Type.Literal('gather'), Type.Literal('menu')]),
  label: Label,
  prompts: Prompts,
  maxDigits: Type.Optional(Type.Integer({ minimum: 1, maximum: 255, description: 'default: the longest branch or choice, else 20' })),
  timeoutSec: Type.Optional(Type.Number({ minimum: 0.5, maximum: 120, default: DEFAULTS.gather.timeoutSec })),
  finishKey: Type.Optional(Type.Union([Type.Literal('#'), Type.Literal('*'), Type.Literal('')], { default: '#' })),
  validDigits: Type.Optional(Type.Union([
    Type.String({ minLength: 1, maxLength: 200, description: 'a regular expression the whole input must match' }),
    Type.Array(Type.String({ pattern: DIGITS_KEY_PATTERN }), { minItems: 1, maxItems: 100 }),
  ])),
  retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, default: DEFAULTS.gather.retries })),
  invalidPrompt: Type.Optional(Prompt),
  noInputPrompt: Type.Optional(Prompt),
  branches: Type.Optional(DigitBranches),
  next: Type.Optional(Ref('where any other valid input goes')),
  noInput: Type.Optional(Ref('where the call goes when retries run out without input')),
  invalid: Type.Optional(Ref('where the call goes when retries run out on invalid input')),
  saveAs: SaveAs,
}, { additionalProperties: false })

export const DialNodeSchema = Type.Object({
  type: Type.Literal('dial'),
  label: Label,
  to: Type.String({ minLength: 1, maxLength: 255, description: 'Asterisk dial string, may use ${var}' }),
  timeoutSec: Type.Optional(Type.Integer({ minimum: 1, maximum: 600, default: DEFAULTS.dial.timeoutSec })),
  callerId: Type.Optional(Type.String({ minLength: 1, maxLength: 80 })),
  branches: Type.Optional(Type.Object({
    ANSWER: Type.Optional(Ref()),
    BUSY: Type.Optional(Ref()),
    NOANSWER: Type.Optional(Ref()),
    CANCEL: Type.Optional(Ref()),
    CONGESTION: Type.Optional(Ref()),
    CHANUNAVAIL: Type.Optional(Ref()),
  }, { additionalProperties: false })),
  next: Next,
  saveAs: SaveAs,
}, { additionalProperties: false })

export const RecordNodeSchema = Type.Object({
  type: Type.Literal('record'),
  label: Label,
  file: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,40}$', default: DEFAULTS.record.file, description: 'file name prefix' })),
  format: Type.Optional(Type.Union([Type.Literal('wav'), Type.Literal('gsm'), Type.Literal('ulaw')], { default: DEFAULTS.record.format })),
  maxSec: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, default: DEFAULTS.record.maxSec })),
  silenceSec: Type.Optional(Type.Integer({ minimum: 0, maximum: 60, default: DEFAULTS.record.silenceSec })),
  beep: Type.Optional(Type.Boolean({ default: DEFAULTS.record.beep })),
  saveAs: SaveAs,
  next: Next,
}, { additionalProperties: false })

export const WaitNodeSchema = Type.Object({
  type: Type.Literal('wait'),
  label: Label,
  seconds: Type.Optional(Type.Number({ minimum: 0, maximum: 3600, default: DEFAULTS.wait.seconds })),
  next: Next,
}, { additionalProperties: false })

export const AmdNodeSchema = Type.Object({
  type: Type.Literal('amd'),
  label: Label,
  initialSilenceMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 10000, default: DEFAULTS.amd.initialSilenceMs })),
  greetingMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 10000, default: DEFAULTS.amd.greetingMs })),
  totalAnalysisMs: Type.Optional(Type.Integer({ minimum: 500, maximum: 30000, default: DEFAULTS.amd.totalAnalysisMs })),
  branches: Type.Optional(Type.Object({
    HUMAN: Type.Optional(Ref()),
    MACHINE: Type.Optional(Ref()),
    NOTSURE: Type.Optional(Ref()),
  }, { additionalProperties: false })),
  next: Next,
  saveAs: SaveAs,
}, { additionalProperties: false })

export const SetNodeSchema = Type.Object({
  type: Type.Literal('set'),
  label: Label,
  vars: Type.Record(VarName, Type.String({ maxLength: 1024 }), { additionalProperties: false, minProperties: 1, maxProperties: 32 }),
  next: Next,
}, { additionalProperties: false })

export const CONDITION_OPS = ['eq', 'ne', 'lt', 'gt', 'in', 'matches'] as const
const Scalar = Type.Union([Type.String({ maxLength: 1024 }), Type.Number()])

export const ConditionNodeSchema = Type.Object({
  type: Type.Literal('condition'),
  label: Label,
  when: Type.Array(Type.Object({
    var: VarName,
    op: Type.Union(CONDITION_OPS.map((o) => Type.Literal(o))),
    value: Type.Union([Scalar, Type.Array(Scalar, { maxItems: 100 })]),
    next: Ref(),
  }, { additionalProperties: false }), { minItems: 1, maxItems: 50 }),
  else: Next,
}, { additionalProperties: false })

export const HttpNodeSchema = Type.Object({
  type: Type.Literal('http'),
  label: Label,
  url: Type.String({ minLength: 1, maxLength: 2048, description: 'http(s) URL; ${var} allowed after the host' }),
  method: Type.Optional(Type.Union([Type.Literal('GET'), Type.Literal('POST')], { default: DEFAULTS.http.method })),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 30000, default: DEFAULTS.http.timeoutMs })),
  body: Type.Optional(Type.Record(VarName, Type.String({ maxLength: 1024 }), { additionalProperties: false, maxProperties: 32 })),
  saveAs: SaveAs,
  next: Next,
  onError: Type.Optional(Ref('where the call goes on a network error, a timeout or a non-2xx answer (default: next)')),
}, { additionalProperties: false })

export const HangupNodeSchema = Type.Object({
  type: Type.Literal('hangup'),
  label: Label,
  cause: Type.Optional(Type.Integer({ minimum: 1, maximum: 127, default: DEFAULTS.hangup.cause })),
}, { additionalProperties: false })

export const GotoNodeSchema = Type.Object({
  type: Type.Literal('goto'),
  label: Label,
  context: Type.String({ pattern: '^[A-Za-z0-9_-]{1,79}$' }),
  extension: Type.String({ minLength: 1, maxLength: 79, description: 'may use ${var}' }),
  priority: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: DEFAULTS.goto.priority })),
}, { additionalProperties: false })

/** Each node type's schema, by `type` (gather and menu are the same node). */
export const NodeSchemas = {
  play: PlayNodeSchema,
  gather: GatherNodeSchema,
  menu: GatherNodeSchema,
  dial: DialNodeSchema,
  record: RecordNodeSchema,
  wait: WaitNodeSchema,
  amd: AmdNodeSchema,
  set: SetNodeSchema,
  condition: ConditionNodeSchema,
  http: HttpNodeSchema,
  hangup: HangupNodeSchema,
  goto: GotoNodeSchema,
} as const

export type NodeType = keyof typeof NodeSchemas
export const NODE_TYPES = Object.keys(NodeSchemas) as NodeType[]

export const FlowNodeSchema = Type.Union([
  PlayNodeSchema, GatherNodeSchema, DialNodeSchema, RecordNodeSchema, WaitNodeSchema, AmdNodeSchema,
  SetNodeSchema, ConditionNodeSchema, HttpNodeSchema, HangupNodeSchema, GotoNodeSchema,
])

export const MAX_NODES = 500

/** A whole flow document. */
export const FlowSchema = Type.Object({
  $schema: Type.Optional(Type.String({ maxLength: 2048 })),
  format: Type.Literal(FLOW_FORMAT),
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  start: Ref('the first node'),
  nodes: Type.Record(Type.String({ pattern: NODE_ID_PATTERN }), FlowNodeSchema, {
    additionalProperties: false, minProperties: 1, maxProperties: MAX_NODES,
  }),
}, { additionalProperties: false })

export type Flow = Type.Static<typeof FlowSchema>
export type FlowNode = Type.Static<typeof FlowNodeSchema>
export type PlayNode = Type.Static<typeof PlayNodeSchema>
export type GatherNode = Type.Static<typeof GatherNodeSchema>
export type DialNode = Type.Static<typeof DialNodeSchema>
export type RecordNode = Type.Static<typeof RecordNodeSchema>
export type WaitNode = Type.Static<typeof WaitNodeSchema>
export type AmdNode = Type.Static<typeof AmdNodeSchema>
export type SetNode = Type.Static<typeof SetNodeSchema>
export type ConditionNode = Type.Static<typeof ConditionNodeSchema>
export type HttpNode = Type.Static<typeof HttpNodeSchema>
export type HangupNode = Type.Static<typeof HangupNodeSchema>
export type GotoNode = Type.Static<typeof GotoNodeSchema>
export type ConditionOp = (typeof CONDITION_OPS)[number]
