/** Error codes of @federate/cache. */
export const CACHE_ERRORS = {
  INVALID_OPTIONS: 'FED_CACHE_INVALID_OPTIONS',
  INVALID_KEY: 'FED_CACHE_INVALID_KEY',
  UNAVAILABLE: 'FED_CACHE_UNAVAILABLE',
} as const

export type CacheErrorCode = typeof CACHE_ERRORS[keyof typeof CACHE_ERRORS]

export class CacheError extends Error {
  constructor (readonly code: CacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CacheError'
  }

  /** Memcached being down is always worth another try later; bad options or keys never are. */
  get canRetry (): boolean {
    return this.code === CACHE_ERRORS.UNAVAILABLE
  }
}
