import Type from 'typebox'

/**
 * A call's progress through its flow. Plain JSON: it travels sealed in the state token
 * (state-token.ts) and comes back on the next step, so any app server can continue the call.
 */
export const FlowStateSchema = Type.Object({
  /** The node whose action the dialplan is performing (or the http node being awaited). */
  node: Type.String({ maxLength: 64 }),
  /** Re-prompts already used at the current gather. */
  retries: Type.Integer({ minimum: 0, maximum: 100 }),
  vars: Type.Record(Type.String({ pattern: '^(?!__proto__$)[A-Za-z0-9_]{1,64}$' }), Type.String({ maxLength: 1024 }), { additionalProperties: false }),
  /** Events handled so far. */
  steps: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
  /** Set once the flow has ended: any further event answers hangup. */
  done: Type.Optional(Type.Union([Type.Literal('hangup'), Type.Literal('goto')])),
  /** Waiting for the caller to perform an http request (resumeHttp). */
  await: Type.Optional(Type.Literal('http')),
  /** Pass-through nodes and http requests used so far in the current step (while awaiting http). */
  hops: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000 })),
  http: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000 })),
  /** Opaque to the engine: the flow reference (e.g. id@version) the caller runs. */
  ref: Type.Optional(Type.String({ maxLength: 160 })),
  /** The call this state belongs to (from ctx.callId at start); the server checks it on each step. */
  call: Type.Optional(Type.String({ maxLength: 128 })),
}, { additionalProperties: false })

export type FlowState = Type.Static<typeof FlowStateSchema>
