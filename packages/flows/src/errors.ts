// Error codes of @federate/flows. The engine itself never throws on a bad call event (it answers
// with the error fallback); these are for callers misusing the API and for the state token.

export type FlowsErrorCode =
  | 'FED_FLOWS_STATE_INVALID'
  | 'FED_FLOWS_STATE_EXPIRED'
  | 'FED_FLOWS_STATE_TOO_LARGE'
  | 'FED_FLOWS_BAD_STATE'
  | 'FED_FLOWS_BAD_KEYRING'

export class FlowsError extends Error {
  readonly code: FlowsErrorCode
  constructor (code: FlowsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'FlowsError'
    this.code = code
  }
}

/** A state token that cannot be used; `fault` names the protocol fault to answer with. */
export class StateTokenError extends FlowsError {
  readonly fault: 'STATE_INVALID' | 'STATE_EXPIRED'
  constructor (fault: 'STATE_INVALID' | 'STATE_EXPIRED', message: string, options?: { cause?: unknown }) {
    super(fault === 'STATE_EXPIRED' ? 'FED_FLOWS_STATE_EXPIRED' : 'FED_FLOWS_STATE_INVALID', message, options)
    this.name = 'StateTokenError'
    this.fault = fault
  }
}
