// Every error the agent raises. Codes are stable: logs and tests match on them.

export const AgentErrorCodes = {
  /** No app server could be asked (all refused, timed out or have their circuit open). */
  NO_SERVER: 'FED_AGENT_NO_SERVER',
  /** The tier answered something the contract does not allow. */
  BAD_ANSWER: 'FED_AGENT_BAD_ANSWER',
  /** The AGI peer broke the protocol, hung up, went silent or closed the socket. */
  AGI: 'FED_AGENT_AGI',
  /** An AMI action failed, timed out, or the connection is down. */
  AMI: 'FED_AGENT_AMI',
  /** The spool could not be written or read. */
  SPOOL: 'FED_AGENT_SPOOL',
  /** A setting cannot work (e.g. FEDERATE_SOUNDS_DIR not ending in /federate with audio sync on). */
  CONFIG: 'FED_AGENT_CONFIG',
  /** An audio sync pass did not complete (the manifest could not be had, or files failed). */
  SYNC: 'FED_AGENT_SYNC',
  /** A recording upload failed (the PUT to storage, or the file could not be read). */
  UPLOAD: 'FED_AGENT_UPLOAD',
  /** The agent is closed. */
  CLOSED: 'FED_AGENT_CLOSED',
} as const

export type AgentErrorCode = (typeof AgentErrorCodes)[keyof typeof AgentErrorCodes]

export class AgentError extends Error {
  readonly code: AgentErrorCode
  constructor (code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AgentError'
    this.code = code
  }
}

/** The channel hung up (AGI `HANGUP` line or 511): stop the step, nothing is wrong. */
export class AgiHangupError extends AgentError {
  constructor (message = 'the channel hung up') {
    super(AgentErrorCodes.AGI, message)
    this.name = 'AgiHangupError'
  }
}
