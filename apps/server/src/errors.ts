// REST errors carry a stable code (FED_<AREA>_<WHAT>) and an HTTP status; Fastify's error
// handler answers { statusCode, code, error, message }.

export class HttpError extends Error {
  constructor (readonly statusCode: number, readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'HttpError'
  }
}

/** An HTTP error with a stable code and a message a person can act on. */
export function httpError (statusCode: number, code: string, message: string, options?: { cause?: unknown }): HttpError {
  return new HttpError(statusCode, code, message, options)
}
