import type { FastifyRequest } from 'fastify'

/** The credential from `Authorization: Bearer <x>` (or `X-API-Key: <x>`), or undefined. */
export function bearerToken (request: FastifyRequest): string | undefined {
  const h = request.headers.authorization
  if (typeof h === 'string' && h.length < 512) {
    const m = /^Bearer\s+(\S+)$/i.exec(h)
    if (m) return m[1]
  }
  const k = request.headers['x-api-key']
  return typeof k === 'string' && k.length < 512 ? k : undefined
}
