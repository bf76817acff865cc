// Every error code of @federate/controller in one place.

export const ControllerErrorCodes = {
  FED_CONTROLLER_INVALID_CONFIG: { retry: false, text: 'invalid controller configuration' },
  /** The lock connection died during a pass: the pass stops, another controller takes over. */
  FED_CONTROLLER_NOT_LEADER: { retry: true, text: 'this controller is not the leader' },
  FED_CONTROLLER_CLOSED: { retry: false, text: 'closed' },
} as const

export type ControllerErrorCode = keyof typeof ControllerErrorCodes

export class ControllerError extends Error {
  readonly code: ControllerErrorCode
  readonly canRetry: boolean

  constructor (code: ControllerErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${ControllerErrorCodes[code].text}: ${detail}` : ControllerErrorCodes[code].text, options)
    this.name = 'ControllerError'
    this.code = code
    this.canRetry = ControllerErrorCodes[code].retry
  }
}
