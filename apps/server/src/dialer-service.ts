import type { Queryable } from '@federate/db'
import type { Dialer } from '@federate/dialer'
import type { OutboundCalls } from './rpc/outbound.ts'
import type { DialerService } from './rpc/services.ts'

/** Campaign call ids are `dial-<attemptId>` (the dialer's leases); anything else is inbound. */
const isCampaignCall = (callId: string): boolean => callId.startsWith('dial-')

/** The node under which call.step stores a call's answering-machine verdict for the dialer. */
export const AMD_RESULT_NODE = '_amd'

/**
 * The dialer as the XML-RPC handlers see it: dialer.next hands out leases; a campaign call's
 * first step finds its campaign's pinned flow and the contact's fields; call.end settles the
 * attempt (once), with the AMD verdict the flow recorded deciding answered or machine.
 */
export function createDialerAdapters (dialer: Dialer, db: Queryable): { dialer: DialerService, outbound: OutboundCalls } {
  return {
    dialer: { next: async (instanceId, free) => await dialer.next(instanceId, free) },
    outbound: {
      async started (callId) {
        if (!isCampaignCall(callId)) return null
        const r = await dialer.onCallStarted(callId)
        if (!r.ok) return null
        return { campaignId: r.campaignId, flowRef: r.flowRef, vars: r.vars, attemptId: r.attemptId }
      },
      async ended (end) {
        if (!isCampaignCall(end.callId)) return
        const { rows } = await db.query<{ value: string }>(
          'SELECT value FROM call_results WHERE call_id = $1 AND node = $2 AND key = $3', [end.callId, AMD_RESULT_NODE, 'status'])
        await dialer.onCallEnded({ ...end, amd: rows[0]?.value ?? null })
      },
    },
  }
}
