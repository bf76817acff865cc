import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { verifyApiKey, type ApiKeyRole, type Queryable } from '@federate/db'
import { bearerToken } from './bearer.ts'
import { tooManyFailuresMessage, type AuthFailureLimiter } from './rate-limit.ts'
import { TtlCache } from './ttl-cache.ts'
import { httpError } from '../errors.ts'
import type { Metrics } from '../metrics.ts'

/** Who made a REST request. */
export interface Principal { keyId: string, role: ApiKeyRole, name: string }

declare module 'fastify' {
  interface FastifyRequest { principal?: Principal }
}

// Each role can do what the roles below it can.
const RANK: Record<ApiKeyRole, number> = { viewer: 1, operator: 2, admin: 3 }

/** Whether `role` may do what `needed` allows. */
export function roleAllows (role: ApiKeyRole, needed: ApiKeyRole): boolean {
  return RANK[role] >= RANK[needed]
}

/**
 * REST authentication with API keys (`Authorization: Bearer fed_...` or `X-API-Key`), and a
 * preHandler factory that requires a role. Verified keys are remembered for `cacheSec`; only
 * keys not remembered reach the failure limiter (429 for an address with too many failures).
 */
export function createApiKeyAuth (db: Queryable, metrics: Metrics, cacheSec: number, limiter?: AuthFailureLimiter) {
  const cache = new TtlCache<Principal>(cacheSec * 1000)

  async function principalOf (request: FastifyRequest): Promise<Principal> {
    const key = bearerToken(request)
    if (key === undefined) throw httpError(401, 'FED_AUTH_MISSING', 'an API key is required (Authorization: Bearer <key>)')
    const h = createHash('sha256').update(key).digest('base64url')
    let p = cache.get(h)
    if (p === undefined) {
      const wait = limiter?.refuseFor(request.ip, h) ?? 0
      if (wait > 0) {
        metrics.authFailures.inc({ kind: 'api_key_rate_limited' })
        throw Object.assign(httpError(429, 'FED_AUTH_RATE_LIMITED', tooManyFailuresMessage(wait)), { headers: { 'retry-after': String(wait) } })
      }
      const found = await verifyApiKey(db, key)
      if (found === null) {
        limiter?.fail(request.ip)
        metrics.authFailures.inc({ kind: 'api_key' })
        throw httpError(401, 'FED_AUTH_INVALID', 'the API key is invalid or revoked')
      }
      p = { keyId: found.id, role: found.role, name: found.name }
      cache.set(h, p)
      limiter?.succeeded(h)
    }
    return p
  }

  return {
    principalOf,
    /** A preHandler letting through keys whose role is at least `role`. */
    require (role: ApiKeyRole) {
      return async function requireRole (request: FastifyRequest, _reply: FastifyReply): Promise<void> {
        const p = await principalOf(request)
        if (!roleAllows(p.role, role)) throw httpError(403, 'FED_AUTH_FORBIDDEN', `this needs the ${role} role; the key has ${p.role}`)
        request.principal = p
      }
    },
    forget (): void { cache.clear() },
  }
}

export type ApiKeyAuth = ReturnType<typeof createApiKeyAuth>
