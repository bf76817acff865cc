import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { ApiKeyRole } from '@federate/db'

/** Who a stream ticket was issued to. */
export interface TicketHolder { keyId: string, role: ApiKeyRole }

const ROLES = new Set<string>(['viewer', 'operator', 'admin'])

/**
 * Short-lived, single-use tickets for the dashboard's event stream: EventSource cannot send an
 * Authorization header, so the page trades its API key for a ticket it may put in the URL.
 * HMAC-SHA256 with a random per-process secret: a ticket is only good on the server that issued
 * it (the page asks that same server for the stream) and none survives a restart.
 */
export function createTicketIssuer ({ ttlMs = 60_000, now = Date.now }: { ttlMs?: number, now?: () => number } = {}) {
  const secret = randomBytes(32)
  // Nonces already used, with their expiry: a ticket seen in a log or a history cannot be replayed.
  const used = new Map<string, number>()

  const mac = (payload: string) => createHmac('sha256', secret).update(payload).digest('base64url')

  function forgetExpired (t: number): void {
    for (const [nonce, exp] of used) if (exp <= t) used.delete(nonce)
  }

  return {
    ttlMs,
    /** A ticket for `holder`, valid for ttlMs and for one stream. */
    issue (holder: TicketHolder): { ticket: string, expiresAt: string } {
      const exp = now() + ttlMs
      const payload = [holder.keyId, holder.role, String(exp), randomBytes(12).toString('base64url')].join('.')
      return { ticket: `${payload}.${mac(payload)}`, expiresAt: new Date(exp).toISOString() }
    },
    /** The holder of a valid, unexpired, unused ticket (which is then used up), or undefined. */
    redeem (ticket: string): TicketHolder | undefined {
      const parts = ticket.split('.')
      if (parts.length !== 5) return undefined
      const [keyId, role, expText, nonce, sig] = parts as [string, string, string, string, string]
      const expected = Buffer.from(mac(`${keyId}.${role}.${expText}.${nonce}`))
      const given = Buffer.from(sig)
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
      const t = now()
      const exp = Number(expText)
      if (!Number.isSafeInteger(exp) || exp <= t || !ROLES.has(role)) return undefined
      forgetExpired(t)
      if (used.has(nonce)) return undefined
      used.set(nonce, exp)
      return { keyId, role: role as ApiKeyRole }
    },
  }
}

export type TicketIssuer = ReturnType<typeof createTicketIssuer>
