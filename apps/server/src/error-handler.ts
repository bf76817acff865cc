import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'

// Fastify's default handler answers an unexpected error with its own message: for a database
// error that is PostgreSQL's text (table, constraint, sometimes the offending value) and its
// SQLSTATE as `code`. Errors raised on purpose carry a 4xx status or a stable FED_/FST_ code
// and go on to Fastify's handler unchanged; anything else becomes a generic 500 naming the
// request id to look for in the log, where the full error is.

/** The app's error handler: deliberate errors pass through, internal ones are logged and hidden. */
export async function errorHandler (error: FastifyError, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const status = error.statusCode ?? 500
  if (status < 500 || /^(FED|FST)_/.test(String(error.code ?? ''))) throw error // Fastify's default answers it
  request.log.error({ err: error }, 'request failed')
  return await reply.code(500).send({
    statusCode: 500,
    code: 'FED_INTERNAL',
    error: 'Internal Server Error',
    message: `an internal error stopped this request; the server log has it under request id ${request.id}`,
  })
}
