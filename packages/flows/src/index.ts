export {
  FlowSchema, FlowNodeSchema, NodeSchemas, NODE_TYPES, FLOW_FORMAT, DEFAULTS, MAX_NODES, CONDITION_OPS,
} from './schema.ts'
export type {
  Flow, FlowNode, NodeType, ConditionOp,
  PlayNode, GatherNode, DialNode, RecordNode, WaitNode, AmdNode, SetNode, ConditionNode, HttpNode, HangupNode, GotoNode,
} from './schema.ts'
export { flowJsonSchema, flowJsonSchemaText } from './json-schema.ts'
export { validateFlow, MAX_FLOW_BYTES } from './validate.ts'
export type { FlowIssue, ValidationResult } from './validate.ts'
export { promptsOf, isSafePromptName } from './prompts.ts'
export { step, resumeHttp, DEFAULT_LIMITS, CHANNEL_VARS, CAUSE_NORMAL, CAUSE_ERROR } from './engine.ts'
export type { StepResult, ActionStep, HttpStep, HttpRequest, HttpOutcome, FlowResult, StepContext, EngineLimits } from './engine.ts'
export { FlowStateSchema } from './state.ts'
export type { FlowState } from './state.ts'
export { sealState, openState, checkKeyring, STATE_TOKEN_DEFAULTS, MIN_KEY_BYTES } from './state-token.ts'
export type { Keyring, StateTokenOptions } from './state-token.ts'
export { isAllowedUrl, checkUrl, isBlockedAddress } from './url-allow.ts'
export type { UrlCheck } from './url-allow.ts'
export { FlowsError, StateTokenError } from './errors.ts'
export type { FlowsErrorCode } from './errors.ts'
