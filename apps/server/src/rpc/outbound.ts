/**
 * What the step and end handlers need from the dialer: which campaign a call id belongs to
 * (the lease recorded by dialer.next) and where its outcome goes. Absent when the dialer is off.
 */
export interface OutboundCalls {
  /** The lease for `callId` if it is a campaign call of this instance; marks it started. */
  started: (callId: string, instanceId: string) => Promise<{ campaignId: string, flowRef: string, vars: Record<string, string>, attemptId?: string | number } | null>
  /** Settles the attempt of an outbound call (idempotent). */
  ended: (end: { callId: string, cause: string, durationSec: number, billSec: number }) => Promise<void>
}
