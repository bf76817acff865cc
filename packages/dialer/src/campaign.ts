import Type from 'typebox'
import { Compile } from 'typebox/compile'
import { checkWindow, type CallingWindow } from './calling-window.ts'
import { DialerError } from './errors.ts'
import { DEFAULT_MAX_ATTEMPTS, parseRetryPolicy, type RetryPolicy } from './retry-policy.ts'

export const CAMPAIGN_STATUSES = ['draft', 'running', 'paused', 'stopped', 'completed'] as const
export type CampaignStatus = typeof CAMPAIGN_STATUSES[number]

const Id = Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' })

/** A calling window in the contact's local time (HH:MM to HH:MM, days 0 = Sunday). */
const WindowSchema = Type.Object({
  start: Type.String(),
  end: Type.String(),
  days: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 6 }), { minItems: 1, maxItems: 7 })),
}, { additionalProperties: false })

/** What an operator gives to create a campaign (REST and CLI validate with this too). */
export const CampaignInputSchema = Type.Object({
  id: Type.Optional(Id),
  name: Type.String({ minLength: 1, maxLength: 256 }),
  flowId: Id,
  /** Pin a version; by default `start` pins the flow's latest. */
  flowVersion: Type.Optional(Type.Integer({ minimum: 1 })),
  callerId: Type.String({ minLength: 1, maxLength: 64 }),
  rateCps: Type.Number({ exclusiveMinimum: 0, maximum: 10000 }),
  maxConcurrent: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  ringTimeoutSec: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
  window: Type.Optional(WindowSchema),
  retryPolicy: Type.Optional(Type.Unknown()),
  maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
}, { additionalProperties: false })

export type CampaignInput = Type.Static<typeof CampaignInputSchema>

/** Fields that may change after creation (rates and caps apply on the next tick). */
export const CampaignUpdateSchema = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  callerId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  rateCps: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 10000 })),
  maxConcurrent: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  ringTimeoutSec: Type.Optional(Type.Integer({ minimum: 1, maximum: 600 })),
  window: Type.Optional(WindowSchema),
  retryPolicy: Type.Optional(Type.Unknown()),
  maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
}, { additionalProperties: false })

export type CampaignUpdate = Type.Static<typeof CampaignUpdateSchema>

export interface Campaign {
  id: string
  name: string
  flowId: string
  flowVersion: number | null
  callerId: string
  rateCps: number
  maxConcurrent: number
  ringTimeoutSec: number
  window: CallingWindow
  retryPolicy: RetryPolicy
  maxAttempts: number
  status: CampaignStatus
  createdAt: Date
  startedAt: Date | null
  stoppedAt: Date | null
  completedAt: Date | null
}

const checkInput = Compile(CampaignInputSchema)
const checkUpdate = Compile(CampaignUpdateSchema)

function firstError (c: typeof checkInput | typeof checkUpdate, value: unknown): string {
  const e = [...c.Errors(value)][0]
  return `${e?.instancePath || '(root)'} ${e?.message ?? 'is invalid'}`
}

/** Validates a create request; throws FED_DIALER_INVALID_INPUT naming the first bad field. */
export function parseCampaignInput (input: unknown): CampaignInput {
  if (!checkInput.Check(input)) throw new DialerError('FED_DIALER_INVALID_INPUT', firstError(checkInput, input))
  if (input.window) checkWindow(input.window)
  parseRetryPolicy(input.retryPolicy)
  return input
}

export function parseCampaignUpdate (input: unknown): CampaignUpdate {
  if (!checkUpdate.Check(input)) throw new DialerError('FED_DIALER_INVALID_INPUT', firstError(checkUpdate, input))
  if (input.window) checkWindow(input.window)
  if (input.retryPolicy !== undefined) parseRetryPolicy(input.retryPolicy)
  return input
}

/** The campaign row's columns, for SELECT lists. */
export const CAMPAIGN_COLUMNS = `id, name, flow_id, flow_version, caller_id, rate_cps, max_concurrent, ring_timeout_sec,
  window_start, window_end, window_days, retry_policy, max_attempts, status, created_at, started_at, stopped_at, completed_at`

export function campaignFromRow (r: Record<string, any>): Campaign {
  const maxAttempts = Number(r.max_attempts ?? DEFAULT_MAX_ATTEMPTS)
  return {
    id: r.id,
    name: r.name,
    flowId: r.flow_id,
    flowVersion: r.flow_version ?? null,
    callerId: r.caller_id,
    rateCps: Number(r.rate_cps),
    maxConcurrent: Number(r.max_concurrent),
    ringTimeoutSec: Number(r.ring_timeout_sec),
    window: { start: r.window_start, end: r.window_end, ...(r.window_days ? { days: r.window_days.map(Number) } : {}) },
    retryPolicy: { ...parseRetryPolicy(r.retry_policy), maxAttempts },
    maxAttempts,
    status: r.status,
    createdAt: r.created_at,
    startedAt: r.started_at ?? null,
    stoppedAt: r.stopped_at ?? null,
    completedAt: r.completed_at ?? null,
  }
}
