import { createHash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { verifyInstanceToken, type Queryable } from '@federate/db'
import { FaultError } from '@federate/protocol'
import { bearerToken } from './bearer.ts'
import { tooManyFailuresMessage, type AuthFailureLimiter } from './rate-limit.ts'
import { TtlCache } from './ttl-cache.ts'
import type { Metrics } from '../metrics.ts'

export interface InstanceAuth { instanceId: string }

/**
 * XML-RPC authentication: each instance sends its own token as a bearer token. Tokens are
 * verified against their stored hash and remembered for `cacheSec` (keyed by a hash of the
 * token, never the token itself), so revocation takes effect within that time. A remembered
 * token never reaches the failure limiter: only cache misses are counted and limited.
 */
export function createInstanceAuthenticator (db: Queryable, metrics: Metrics, cacheSec: number, limiter?: AuthFailureLimiter) {
  const cache = new TtlCache<string>(cacheSec * 1000)
  return {
    async authenticate (request: FastifyRequest): Promise<InstanceAuth> {
      const token = bearerToken(request)
      if (token === undefined) {
        metrics.authFailures.inc({ kind: 'instance' })
        throw new FaultError('UNAUTHORIZED')
      }
      const key = createHash('sha256').update(token).digest('base64url')
      let instanceId = cache.get(key)
      if (instanceId === undefined) {
        const wait = limiter?.refuseFor(request.ip, key) ?? 0
        if (wait > 0) {
          metrics.authFailures.inc({ kind: 'instance_rate_limited' })
          throw new FaultError('UNAUTHORIZED', tooManyFailuresMessage(wait))
        }
        let found: string | null
        try {
          found = await verifyInstanceToken(db, token)
        } catch (err) {
          // PostgreSQL is unreachable: a token verified before keeps working, so calls in
          // progress go on through an outage (DESIGN rule 5); revocation waits for the database.
          const known = cache.stale(key)
          if (known !== undefined) return { instanceId: known }
          throw new FaultError('UNAVAILABLE', 'cannot verify the instance token now', { cause: err })
        }
        if (found === null) {
          limiter?.fail(request.ip)
          metrics.authFailures.inc({ kind: 'instance' })
          throw new FaultError('UNAUTHORIZED')
        }
        instanceId = found
        cache.set(key, instanceId)
        limiter?.succeeded(key)
      }
      return { instanceId }
    },
    /** Forget every remembered token (after a revocation in this process). */
    forget (): void { cache.clear() },
  }
}

/** A method acting for an instance must be called with that instance's own token. */
export function assertSameInstance (auth: InstanceAuth, instanceId: string): void {
  if (auth.instanceId !== instanceId) throw new FaultError('FORBIDDEN', `token is for ${auth.instanceId}`)
}
