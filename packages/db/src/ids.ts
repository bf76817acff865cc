import { DbError } from './errors.ts'

// The protocol's Id pattern (packages/protocol): ids travel in XML-RPC structs and cache keys.
export const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/

/** Throws FED_DB_INVALID_INPUT unless `value` is a valid id; `what` names it in the message. */
export function checkId (value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw new DbError('FED_DB_INVALID_INPUT', `${what} must match ${ID_PATTERN.source} (got ${JSON.stringify(value)?.slice(0, 80)})`)
  }
}

/** Throws FED_DB_INVALID_INPUT unless `value` is an integer within [min, 2^31-1]. */
export function checkInt (value: unknown, what: string, min = 0): asserts value is number {
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > 2147483647) {
    throw new DbError('FED_DB_INVALID_INPUT', `${what} must be an integer >= ${min} (got ${JSON.stringify(value)})`)
  }
}
