export { ActionArgs, ACTION_NAMES, PlayArgs, GatherArgs, DialArgs, RecordArgs, WaitArgs, AmdArgs, HangupArgs, GotoArgs } from './actions.ts'
export type { Action, ActionName } from './actions.ts'
export { EventData, EVENT_NAMES, DIAL_STATUSES, AMD_STATUSES } from './events.ts'
export type { CallEvent, EventName } from './events.ts'
export { Faults, FaultError, RETRYABLE_FAULTS } from './faults.ts'
export type { FaultName, FaultStruct } from './faults.ts'
export {
  Methods, PROTOCOL_VERSION, HEARTBEAT_COMMANDS, Channel, Vars,
  CallStepParams, CallStepResult, CallEndParams, HeartbeatParams, HeartbeatResult,
  DialerNextParams, DialerNextResult, DialJob, ManifestParams, ManifestResult, ManifestFile,
  RecordingUploadParams, RecordingUploadResult, OkResult,
} from './methods.ts'
export type { MethodName, ParamsOf, ResultOf } from './methods.ts'
