// Every error code of @federate/db in one place. Callers branch on `code` (and `canRetry`),
// never on messages. The original error is kept as `cause`.

export const DbErrorCodes = {
  /** PostgreSQL did not answer (refused, timed out, connection dropped): retry later. */
  FED_DB_UNAVAILABLE: { retry: true, text: 'PostgreSQL is unavailable' },
  /** Connecting failed for another reason (authentication, permissions, bad URL). */
  FED_DB_CONNECT_FAILED: { retry: false, text: 'could not connect to PostgreSQL' },
  FED_DB_MIGRATION_FAILED: { retry: false, text: 'migration failed' },
  FED_DB_INVALID_INPUT: { retry: false, text: 'invalid input' },
  FED_DB_NOT_FOUND: { retry: false, text: 'not found' },
  FED_DB_INVALID_TRANSITION: { retry: false, text: 'state transition not allowed' },
  FED_DB_NO_SIGNING_KEY: { retry: false, text: 'no current signing key (run `federate migrate`)' },
  /** A group-commit batch failed: nothing in it is durable; the sender keeps and resends. */
  FED_DB_NOT_DURABLE: { retry: true, text: 'the write could not be made durable' },
  FED_DB_CLOSED: { retry: false, text: 'closed' },
} as const

export type DbErrorCode = keyof typeof DbErrorCodes

export class DbError extends Error {
  readonly code: DbErrorCode
  /** True when the same request may succeed if sent again later. */
  readonly canRetry: boolean

  constructor (code: DbErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${DbErrorCodes[code].text}: ${detail}` : DbErrorCodes[code].text, options)
    this.name = 'DbError'
    this.code = code
    this.canRetry = DbErrorCodes[code].retry
  }
}

// Node socket errors and pg's own messages for a server that went away or never answered.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE'])
const NETWORK_MESSAGES = /timeout expired|Connection terminated|connection timeout|Query read timeout|Client has encountered a connection error/i

/**
 * True when an error means PostgreSQL is not reachable or dropped the connection (as opposed to a
 * query the server rejected): the server answers these with a retryable fault.
 */
export function isConnectionError (err: unknown): boolean {
  if (err instanceof DbError) return err.code === 'FED_DB_UNAVAILABLE'
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return true
    // SQLSTATE class 08 (connection exception), 57P01-57P03 (admin shutdown, crash, cannot connect now).
    if (/^08/.test(code) || /^57P0[1-3]$/.test(code)) return true
  }
  if (err instanceof AggregateError) return err.errors.some(isConnectionError)
  return NETWORK_MESSAGES.test(err.message)
}

/** A pg error's SQLSTATE, if it has one. */
export function sqlState (err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined
}
