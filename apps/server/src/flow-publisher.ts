import { flows as flowsRepo, numbers as numbersRepo, type Queryable } from '@federate/db'
import { promptsOf, validateFlow, type FlowIssue } from '@federate/flows'
import type { FlowSource } from './flow-source.ts'

export class FlowRejectedError extends Error {
  readonly code: 'FED_FLOW_INVALID' | 'FED_FLOW_MISSING_PROMPTS'
  constructor (code: FlowRejectedError['code'], message: string, readonly issues: FlowIssue[] = []) {
    super(message)
    this.name = 'FlowRejectedError'
    this.code = code
  }
}

export interface PublishOptions {
  id: string
  name?: string
  numbers?: string[]
  /** Prompt names missing from the audio library (absent: not checked). */
  missingPrompts?: (names: string[]) => Promise<string[]>
}

/**
 * Validates a flow document and publishes it as the flow's next immutable version, binds the
 * given numbers to the flow's latest version, and drops the cached routes that now point
 * elsewhere. Used by the REST API and `federate flows push` alike.
 */
export async function publishFlow (db: Queryable, source: Pick<FlowSource, 'invalidateRoutes'>, definition: unknown, opts: PublishOptions) {
  const checked = validateFlow(definition)
  if (!checked.ok) {
    throw new FlowRejectedError('FED_FLOW_INVALID',
      checked.errors.map((e) => e.message).join('; '), checked.errors)
  }
  if (opts.missingPrompts) {
    const missing = await opts.missingPrompts(promptsOf(checked.flow))
    if (missing.length > 0) throw new FlowRejectedError('FED_FLOW_MISSING_PROMPTS', `the flow plays prompts that are not in the audio library: ${missing.join(', ')}`)
  }
  const numbers = opts.numbers ?? []
  await flowsRepo.createOrGetFlow(db, opts.id, opts.name ?? checked.flow.name ?? opts.id)
  const v = await flowsRepo.publishVersion(db, opts.id, checked.flow)
  for (const n of numbers) await numbersRepo.bind(db, n, opts.id, null)
  // Numbers floating on this flow's latest version now route to the new one.
  const floating = (await numbersRepo.list(db)).filter((b) => b.flowId === opts.id && b.version === null).map((b) => b.number)
  await source.invalidateRoutes([...new Set([...floating, ...numbers])])
  return { flowId: opts.id, version: v.version, sha256: v.sha256, numbers }
}
