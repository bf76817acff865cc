import Type from 'typebox'
import { ACTION_NAMES, AmdArgs, DialArgs, GatherArgs, GotoArgs, HangupArgs, PlayArgs, RecordArgs, WaitArgs } from './actions.ts'
import { EVENT_NAMES } from './events.ts'

// Protocol v1: every method takes one struct. Argument and result schemas are checked at the
// edge by the XML-RPC plugin (arguments) and before serialization (results).

export const PROTOCOL_VERSION = 1

const Id = Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' })
const Int32 = (min = 0) => Type.Integer({ minimum: min, maximum: 2147483647 })
const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' })

/** AGI environment names without the `agi_` prefix; values are strings. */
export const Channel = Type.Record(Type.String({ pattern: '^[a-z_0-9]{1,64}$' }), Type.String({ maxLength: 1024 }), { maxProperties: 64 })

/** Channel variables the tier asks the dialplan to set (FED_VAR_<name>). */
export const Vars = Type.Record(Type.String({ pattern: '^[A-Za-z0-9_]{1,64}$' }), Type.String({ maxLength: 1024 }), { maxProperties: 32 })

export const CallStepParams = Type.Object({
  callId: Id,
  instanceId: Id,
  state: Type.Optional(Type.String({ maxLength: 8192 })),
  event: Type.Enum(EVENT_NAMES),
  data: Type.Record(Type.String({ maxLength: 64 }), Type.Union([Type.String({ maxLength: 1024 }), Type.Number(), Type.Boolean()]), { maxProperties: 16 }),
  channel: Channel,
}, { additionalProperties: false })

export const CallStepResult = Type.Object({
  action: Type.Enum(ACTION_NAMES),
  args: Type.Union([PlayArgs, GatherArgs, DialArgs, RecordArgs, WaitArgs, AmdArgs, HangupArgs, GotoArgs]),
  state: Type.String({ maxLength: 8192 }),
  vars: Type.Optional(Vars),
}, { additionalProperties: false })

export const CallEndParams = Type.Object({
  callId: Id,
  instanceId: Id,
  state: Type.Optional(Type.String({ maxLength: 8192 })),
  cause: Type.String({ maxLength: 64 }),
  durationSec: Type.Number({ minimum: 0, maximum: 86400 }),
  billSec: Type.Number({ minimum: 0, maximum: 86400 }),
}, { additionalProperties: false })

export const OkResult = Type.Object({ ok: Type.Boolean() }, { additionalProperties: false })

export const HEARTBEAT_COMMANDS = ['drain', 'sync', 'resume'] as const

export const HeartbeatParams = Type.Object({
  instanceId: Id,
  activeCalls: Int32(),
  capacity: Int32(),
  manifestVersion: Int32(),
  version: Type.String({ maxLength: 64 }),
  /** Recordings waiting to be uploaded (draining waits for them). */
  pendingUploads: Type.Optional(Int32()),
  /** True once the first full audio sync is done. */
  ready: Type.Optional(Type.Boolean()),
}, { additionalProperties: false })

export const HeartbeatResult = Type.Object({
  commands: Type.Array(Type.Enum(HEARTBEAT_COMMANDS)),
  manifestVersion: Int32(),
}, { additionalProperties: false })

export const DialerNextParams = Type.Object({
  instanceId: Id,
  free: Type.Integer({ minimum: 0, maximum: 10000 }),
}, { additionalProperties: false })

export const DialJob = Type.Object({
  callId: Id,
  to: Type.String({ maxLength: 64 }),
  from: Type.String({ maxLength: 64 }),
  campaignId: Id,
  flowRef: Type.String({ maxLength: 160 }),
  vars: Vars,
  /** Seconds the dialplan lets the callee ring. */
  ringTimeoutSec: Type.Optional(Int32(1)),
  /** Seconds the lease is valid; a call not started by then goes back to its campaign. */
  leaseSec: Type.Optional(Int32(1)),
}, { additionalProperties: false })

export const DialerNextResult = Type.Array(DialJob)

export const ManifestParams = Type.Object({
  instanceId: Id,
  since: Type.Optional(Int32()),
}, { additionalProperties: false })

export const ManifestFile = Type.Object({
  path: Type.String({ maxLength: 255 }),
  sha256: Sha256,
  size: Int32(),
  url: Type.String({ maxLength: 4096 }),
}, { additionalProperties: false })

export const ManifestResult = Type.Object({
  version: Int32(),
  /** True when `files` is the whole list, false for a delta after `since`. */
  full: Type.Boolean(),
  files: Type.Array(ManifestFile),
  /** Paths removed since `since` (deltas only). */
  deleted: Type.Array(Type.String({ maxLength: 255 })),
}, { additionalProperties: false })

export const RecordingUploadParams = Type.Object({
  instanceId: Id,
  callId: Id,
  file: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,160}$' })),
  node: Type.Optional(Type.String({ maxLength: 128 })),
  size: Type.Optional(Int32()),
}, { additionalProperties: false })

export const RecordingUploadResult = Type.Object({
  url: Type.String({ maxLength: 4096 }),
  key: Type.String({ maxLength: 1024 }),
  expiresSec: Int32(),
}, { additionalProperties: false })

/** The method table: name -> params (one struct), result, help. */
export const Methods = {
  'call.step': {
    params: CallStepParams,
    result: CallStepResult,
    help: 'Report the outcome of the last action (or `start`) and get the next action for a call.',
  },
  'call.end': {
    params: CallEndParams,
    result: OkResult,
    help: 'Report that a call ended. Durable before it answers; resend on fault 1301.',
  },
  'instance.heartbeat': {
    params: HeartbeatParams,
    result: HeartbeatResult,
    help: 'Report an instance\'s load and versions; answers with commands (drain, sync, resume).',
  },
  'dialer.next': {
    params: DialerNextParams,
    result: DialerNextResult,
    help: 'Lease up to `free` campaign calls for this instance to originate.',
  },
  'storage.manifest': {
    params: ManifestParams,
    result: ManifestResult,
    help: 'The audio manifest: the full list, or the delta after version `since`, with signed URLs.',
  },
  'recording.upload': {
    params: RecordingUploadParams,
    result: RecordingUploadResult,
    help: 'A short-lived signed PUT URL for a call\'s recording.',
  },
} as const

export type MethodName = keyof typeof Methods
export type ParamsOf<M extends MethodName> = Type.Static<(typeof Methods)[M]['params']>
export type ResultOf<M extends MethodName> = Type.Static<(typeof Methods)[M]['result']>
