// Every error code of @federate/scaler in one place. Callers branch on `code` (and `canRetry`),
// never on messages. The original error is kept as `cause`.

export const ScalerErrorCodes = {
  FED_SCALER_INVALID_CONFIG: { retry: false, text: 'invalid scaling configuration' },
  FED_SCALER_INVALID_INPUT: { retry: false, text: 'invalid input' },
  /** The provider refused or failed a launch after its retries (capacity everywhere, bad template). */
  FED_SCALER_LAUNCH_FAILED: { retry: true, text: 'launch failed' },
  /** The provider was throttled for longer than the retry budget. */
  FED_SCALER_THROTTLED: { retry: true, text: 'the provider throttled every attempt' },
  FED_SCALER_TERMINATE_FAILED: { retry: true, text: 'terminate failed' },
  FED_SCALER_LIST_FAILED: { retry: true, text: 'listing the provider\'s instances failed' },
  FED_SCALER_CLOSED: { retry: false, text: 'closed' },
} as const

export type ScalerErrorCode = keyof typeof ScalerErrorCodes

export class ScalerError extends Error {
  readonly code: ScalerErrorCode
  /** True when the same request may succeed if sent again later. */
  readonly canRetry: boolean

  constructor (code: ScalerErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${ScalerErrorCodes[code].text}: ${detail}` : ScalerErrorCodes[code].text, options)
    this.name = 'ScalerError'
    this.code = code
    this.canRetry = ScalerErrorCodes[code].retry
  }
}
