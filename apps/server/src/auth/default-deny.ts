import type { FastifyRequest } from 'fastify'
import { roleAllows, type ApiKeyAuth } from './api-key-auth.ts'
import { httpError } from '../errors.ts'

/** REST routes anyone may call: each authenticates its own way (the stream: a one-time ticket). */
export const PUBLIC_API_ROUTES: ReadonlySet<string> = new Set([
  'GET /api/v1/dashboard/stream',
])

/** Write methods a viewer key may still use: they check the key or issue a ticket, and change nothing stored. */
export const VIEWER_WRITE_ROUTES: ReadonlySet<string> = new Set([
  'POST /api/v1/session',
  'POST /api/v1/dashboard/ticket',
])

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * An onRequest hook for the whole app: every /api/v1 route needs a valid API key before its body
 * is read or validated (an unauthenticated client can neither probe the schemas nor make the
 * server parse a large body), and viewer keys are read-only, whatever a route's author forgot.
 * Each route still checks its own role (admin for keys and tokens) in its preHandler.
 */
export function apiDefaultDeny (auth: ApiKeyAuth) {
  return async function defaultDeny (request: FastifyRequest): Promise<void> {
    const url = request.routeOptions.url ?? request.url
    if (!url.startsWith('/api/v1/')) return
    const route = `${request.method === 'HEAD' ? 'GET' : request.method} ${url}`
    if (PUBLIC_API_ROUTES.has(route)) return
    const p = await auth.principalOf(request)
    if (WRITES.has(request.method) && !VIEWER_WRITE_ROUTES.has(route) && !roleAllows(p.role, 'operator')) {
      throw httpError(403, 'FED_AUTH_FORBIDDEN', `${request.method} needs at least the operator role; the key has ${p.role}`)
    }
  }
}
