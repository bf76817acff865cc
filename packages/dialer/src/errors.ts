// Every error code of the dialer in one place. `retryable` tells a caller whether the same
// request may succeed later (an outage) or never will (bad input, wrong state).

export const DialerErrorCodes = {
  FED_DIALER_INVALID_INPUT: { message: 'invalid input', retryable: false },
  FED_DIALER_NOT_FOUND: { message: 'no such campaign', retryable: false },
  FED_DIALER_FLOW_NOT_FOUND: { message: 'no such flow or flow version', retryable: false },
  FED_DIALER_BAD_STATE: { message: 'the campaign is not in a state that allows this', retryable: false },
  FED_DIALER_BAD_CSV: { message: 'the CSV cannot be read', retryable: false },
  FED_DIALER_UNAVAILABLE: { message: 'PostgreSQL or Redis is unavailable', retryable: true },
  FED_DIALER_CLOSED: { message: 'the dialer is closed', retryable: false },
} as const

export type DialerErrorCode = keyof typeof DialerErrorCodes

export class DialerError extends Error {
  readonly code: DialerErrorCode
  readonly retryable: boolean

  constructor (code: DialerErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${DialerErrorCodes[code].message}: ${detail}` : DialerErrorCodes[code].message, options)
    this.name = 'DialerError'
    this.code = code
    this.retryable = DialerErrorCodes[code].retryable
  }
}
