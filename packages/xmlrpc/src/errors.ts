import { RETRYABLE_FAULTS, type FaultStruct } from '@federate/protocol'

// Every error this package raises to its callers. Server-side problems never escape as
// errors: the plugin turns them into XML-RPC faults (see docs/protocol.md).

export const ClientErrorCodes = {
  /** The TCP connection could not be made (refused, unreachable, DNS): nothing was sent. */
  CONNECT_FAILED: 'FED_XMLRPC_CONNECT_FAILED',
  /** The TCP connection was not made within connectTimeoutMs: nothing was sent. */
  CONNECT_TIMEOUT: 'FED_XMLRPC_CONNECT_TIMEOUT',
  /** No complete answer within timeoutMs: the server may have acted on the call. */
  TIMEOUT: 'FED_XMLRPC_TIMEOUT',
  /** The connection broke after the request was (perhaps) written. */
  CONNECTION_LOST: 'FED_XMLRPC_CONNECTION_LOST',
  /** The server answered with an HTTP status other than 200. */
  HTTP_STATUS: 'FED_XMLRPC_HTTP_STATUS',
  /** The answer was not a readable XML-RPC response (or failed result validation). */
  BAD_RESPONSE: 'FED_XMLRPC_BAD_RESPONSE',
  /** The call's params cannot be written as XML-RPC (NaN, bigint, int beyond 32 bits, cycles...). */
  BAD_PARAMS: 'FED_XMLRPC_BAD_PARAMS',
  /** The client was closed. */
  CLOSED: 'FED_XMLRPC_CLOSED',
} as const

export type ClientErrorCode = (typeof ClientErrorCodes)[keyof typeof ClientErrorCodes]

/**
 * A call that got no XML-RPC answer. `sentMaybe` is false only when the server cannot have
 * seen the call (safe to resend anywhere); `retryable` says the condition is transient.
 * Resend a non-idempotent call only when `sentMaybe` is false.
 */
export class XmlRpcClientError extends Error {
  readonly code: ClientErrorCode
  readonly retryable: boolean
  readonly sentMaybe: boolean
  readonly statusCode?: number
  constructor (code: ClientErrorCode, message: string, opts: { retryable: boolean, sentMaybe: boolean, statusCode?: number, cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'XmlRpcClientError'
    this.code = code
    this.retryable = opts.retryable
    this.sentMaybe = opts.sentMaybe
    if (opts.statusCode !== undefined) this.statusCode = opts.statusCode
  }
}

/** The server answered with an XML-RPC fault. `retryable` follows RETRYABLE_FAULTS. */
export class XmlRpcFaultError extends Error {
  readonly code = 'FED_XMLRPC_FAULT'
  readonly faultCode: number
  readonly faultString: string
  readonly retryable: boolean
  constructor (fault: FaultStruct) {
    super(`XML-RPC fault ${fault.faultCode}: ${fault.faultString}`)
    this.name = 'XmlRpcFaultError'
    this.faultCode = fault.faultCode
    this.faultString = fault.faultString
    this.retryable = RETRYABLE_FAULTS.has(fault.faultCode)
  }
}

/** Thrown by `registry.register` for a bad definition (duplicate or reserved name). */
export class XmlRpcRegistryError extends Error {
  readonly code = 'FED_XMLRPC_BAD_METHOD'
  constructor (message: string) {
    super(message)
    this.name = 'XmlRpcRegistryError'
  }
}
