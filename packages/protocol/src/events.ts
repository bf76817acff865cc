import Type from 'typebox'

// What the dialplan reports about the action it just performed.

export const DIAL_STATUSES = ['ANSWER', 'BUSY', 'NOANSWER', 'CANCEL', 'CONGESTION', 'CHANUNAVAIL'] as const
export const AMD_STATUSES = ['HUMAN', 'MACHINE', 'NOTSURE'] as const

const Str = (max = 255) => Type.String({ maxLength: max })

export const EventData = {
  start: Type.Object({}, { additionalProperties: false }),
  played: Type.Object({ digit: Type.Optional(Type.String({ pattern: '^[0-9*#]?$' })) }, { additionalProperties: false }),
  digits: Type.Object({
    digits: Type.String({ pattern: '^[0-9*#]{0,255}$' }),
    status: Type.Union([Type.Literal('ok'), Type.Literal('timeout')]),
  }, { additionalProperties: false }),
  dialed: Type.Object({
    status: Type.Enum(DIAL_STATUSES),
    answeredSec: Type.Optional(Type.Number({ minimum: 0 })),
  }, { additionalProperties: false }),
  recorded: Type.Object({ file: Str(255), durationSec: Type.Number({ minimum: 0 }) }, { additionalProperties: false }),
  amd: Type.Object({
    status: Type.Enum(AMD_STATUSES),
    cause: Type.Optional(Str(80)),
  }, { additionalProperties: false }),
  waited: Type.Object({}, { additionalProperties: false }),
  error: Type.Object({ message: Str(1000) }, { additionalProperties: false }),
} as const

export type EventName = keyof typeof EventData
export const EVENT_NAMES = Object.keys(EventData) as EventName[]

/** An event with its typed data. */
export type CallEvent = {
  [K in EventName]: { event: K, data: Type.Static<(typeof EventData)[K]> }
}[EventName]
