// Stable XML-RPC fault codes. Never renumber: agents in the field match on them.
// The first block follows the XML-RPC interoperability spec (specs.xmlrpc.net); ours start at 1000.
// docs/protocol.md lists every code; a test keeps the two in step.

export const Faults = {
  PARSE_ERROR: { code: -32700, text: 'parse error: not well-formed XML' },
  UNSUPPORTED_ENCODING: { code: -32701, text: 'unsupported encoding' },
  INVALID_REQUEST: { code: -32600, text: 'invalid XML-RPC request' },
  METHOD_NOT_FOUND: { code: -32601, text: 'requested method not found' },
  INVALID_PARAMS: { code: -32602, text: 'invalid method parameters' },
  INTERNAL_ERROR: { code: -32603, text: 'internal error' },
  UNAUTHORIZED: { code: 1001, text: 'missing or invalid instance token' },
  FORBIDDEN: { code: 1002, text: 'the token may not act for this instance' },
  STATE_INVALID: { code: 1101, text: 'state token is tampered, malformed or signed with an unknown key' },
  STATE_EXPIRED: { code: 1102, text: 'state token has expired' },
  NOT_ROUTED: { code: 1201, text: 'no flow is bound to the dialled number' },
  FLOW_NOT_FOUND: { code: 1202, text: 'flow or flow version not found' },
  FLOW_ERROR: { code: 1203, text: 'the flow could not be stepped' },
  NOT_DURABLE: { code: 1301, text: 'the record could not be made durable; keep it and resend' },
  UNAVAILABLE: { code: 1302, text: 'a dependency is unavailable; retry' },
  NOT_FOUND: { code: 1401, text: 'unknown id' },
  CONFLICT: { code: 1402, text: 'conflicting state' },
} as const

export type FaultName = keyof typeof Faults

/** Faults after which the agent may safely resend the same request (to another server). */
export const RETRYABLE_FAULTS: ReadonlySet<number> = new Set([
  Faults.INTERNAL_ERROR.code, Faults.NOT_DURABLE.code, Faults.UNAVAILABLE.code,
])

/** The plain struct an XML-RPC fault must be (an Error object would serialize to an empty struct). */
export interface FaultStruct { faultCode: number, faultString: string }

/** A fault raised by a method handler; the XML-RPC plugin turns it into a FaultStruct. */
export class FaultError extends Error {
  readonly faultCode: number
  constructor (fault: FaultName, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${Faults[fault].text}: ${detail}` : Faults[fault].text, options)
    this.name = 'FaultError'
    this.faultCode = Faults[fault].code
  }

  toStruct (): FaultStruct {
    return { faultCode: this.faultCode, faultString: this.message }
  }
}
