// Error codes of the simulator.

export type SimErrorCode =
  | 'FED_SIM_BAD_PROFILE'
  | 'FED_SIM_BAD_OPTIONS'
  | 'FED_SIM_AGI_FAILED'
  | 'FED_SIM_LISTEN_FAILED'

export class SimError extends Error {
  constructor (readonly code: SimErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SimError'
  }
}
