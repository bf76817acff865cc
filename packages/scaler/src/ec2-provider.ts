import { createHash } from 'node:crypto'
import {
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Filter,
  type Instance as Ec2Instance,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2'
import { pino, type Logger } from 'pino'
import { withRetry, type RetryOptions } from './backoff.ts'
import { ScalerError } from './errors.ts'
import type { LaunchRequest, LaunchResult, Provider, ProviderInstance, ProviderState } from './provider.ts'

// EC2: one RunInstances per instance (each has its own user-data: its id and token), from a launch
// template, tagged so `list` finds the fleet and IAM can scope what the controller may touch.
// Idempotent by ClientToken, derived from the instance id and the placement tried; throttling is
// retried with backoff; a capacity error moves to the next subnet (AZ), then the next type.

export const TAG_CLUSTER = 'federate:cluster'
export const TAG_INSTANCE_ID = 'federate:instance-id'

export interface Ec2ProviderOptions {
  /** A client of your own (tests, custom credentials); else one is built from region/endpoint. */
  client?: EC2Client
  region?: string
  /** Endpoint override (a local EC2 Query API server in tests). */
  endpoint?: string
  credentials?: { accessKeyId: string, secretAccessKey: string }
  /** The fleet's name: the `federate:cluster` tag. */
  cluster: string
  launchTemplateId: string
  /** `$Default`, `$Latest` or a number (default `$Default`). */
  launchTemplateVersion?: string
  /** Subnets to try, one per AZ ideally; empty: the template's. */
  subnets?: readonly string[]
  /** Instance types to try in order on capacity errors; empty: the template's. */
  instanceTypes?: readonly string[]
  /** Extra tags on instances and volumes. */
  tags?: Readonly<Record<string, string>>
  /** The instance's user-data (plain text; base64 is applied here). */
  userData: (request: LaunchRequest) => string
  retry?: RetryOptions
  /** RunInstances calls in flight at once (default 4). */
  concurrency?: number
  /** How long an instance this provider launched is reported even if DescribeInstances misses it (default 120 s). */
  listGraceMs?: number
  clock?: () => number
  logger?: Logger
}

const THROTTLED = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'RequestThrottled', 'RequestThrottledException', 'TooManyRequestsException'])
const TRANSIENT = new Set(['InternalError', 'InternalFailure', 'ServiceUnavailable', 'Unavailable'])
const CAPACITY = new Set([
  'InsufficientInstanceCapacity', 'InsufficientHostCapacity', 'InsufficientCapacity',
  'InsufficientReservedInstanceCapacity', 'InsufficientFreeAddressesInSubnet', 'Unsupported',
])
const NOT_FOUND = new Set(['InvalidInstanceID.NotFound', 'InvalidInstanceID.Malformed'])

const codeOf = (err: unknown): string => (err as { name?: string, Code?: string })?.Code ?? (err as { name?: string })?.name ?? ''
const statusOf = (err: unknown): number | undefined => (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode

/** Throttled or a transient server error: the same request may succeed later. */
export function isRetryableEc2Error (err: unknown): boolean {
  const code = codeOf(err)
  if (THROTTLED.has(code) || TRANSIENT.has(code)) return true
  const status = statusOf(err)
  return status === 503 || status === 500 || status === 429
}

export function isCapacityError (err: unknown): boolean {
  return CAPACITY.has(codeOf(err))
}

const STATE: Record<string, ProviderState> = {
  pending: 'pending',
  running: 'running',
  'shutting-down': 'stopping',
  stopping: 'stopping',
  stopped: 'stopping',
  terminated: 'terminated',
}

/**
 * A deterministic ClientToken (<= 64 ASCII characters) per instance id and placement (subnet,
 * type): a retry of the same placement, by this controller or a new leader, returns the instance
 * already started instead of starting another.
 */
export function clientToken (cluster: string, id: string, placement: { subnet?: string, type?: string } = {}): string {
  const digest = createHash('sha256').update(`${cluster}\n${id}\n${placement.subnet ?? ''}\n${placement.type ?? ''}`).digest('hex').slice(0, 48)
  return `fed-${digest}`
}

export function createEc2Provider (opts: Ec2ProviderOptions): Provider & { readonly client: EC2Client } {
  if (!opts.cluster || !opts.launchTemplateId) throw new ScalerError('FED_SCALER_INVALID_CONFIG', 'ec2 needs a cluster name and a launch template id')
  const logger = (opts.logger ?? pino({ level: 'silent' })).child({ module: 'ec2-provider' })
  const ownsClient = !opts.client
  // Our own retry loop decides about throttling and capacity: the SDK's would hide both.
  const client = opts.client ?? new EC2Client({
    region: opts.region,
    endpoint: opts.endpoint || undefined,
    credentials: opts.credentials,
    maxAttempts: 1,
  })
  const clock = opts.clock ?? Date.now
  const grace = opts.listGraceMs ?? 120_000
  const subnets: Array<string | undefined> = opts.subnets?.length ? [...opts.subnets] : [undefined]
  const types: Array<string | undefined> = opts.instanceTypes?.length ? [...opts.instanceTypes] : [undefined]
  // Instances this process launched: listed until DescribeInstances catches up (eventual consistency).
  const recent = new Map<string, ProviderInstance & { at: number }>()
  let closed = false

  const send = async <T>(what: string, fn: () => Promise<T>): Promise<T> =>
    await withRetry(async () => await fn(), (err) => {
      const retry = isRetryableEc2Error(err)
      if (retry) logger.warn({ what, code: codeOf(err) }, 'EC2 throttled or unavailable: backing off')
      return retry
    }, opts.retry)

  const toInstance = (i: Ec2Instance): ProviderInstance | null => {
    const id = i.Tags?.find((t) => t.Key === TAG_INSTANCE_ID)?.Value
    if (!id || !i.InstanceId) return null
    return {
      id,
      ref: i.InstanceId,
      state: STATE[i.State?.Name ?? ''] ?? 'pending',
      instanceType: i.InstanceType ?? null,
      launchedAt: i.LaunchTime ?? null,
      addr: i.PrivateIpAddress ?? null,
    }
  }

  async function describe (filters: Filter[]): Promise<ProviderInstance[]> {
    const out: ProviderInstance[] = []
    let next: string | undefined
    do {
      const page = await send('DescribeInstances', async () => await client.send(new DescribeInstancesCommand({
        Filters: filters,
        MaxResults: 1000,
        NextToken: next,
      })))
      for (const r of page.Reservations ?? []) {
        for (const i of r.Instances ?? []) {
          const p = toInstance(i)
          if (p) out.push(p)
        }
      }
      next = page.NextToken || undefined
    } while (next)
    return out
  }

  // Placements in a fixed order per id (subnets rotated by the id's hash to spread AZs), so a retry
  // walks the same sequence with the same ClientTokens.
  function placements (id: string): Array<{ subnet?: string, type?: string }> {
    const start = createHash('sha256').update(id).digest().readUInt32BE(0) % subnets.length
    const list: Array<{ subnet?: string, type?: string }> = []
    for (const type of types) {
      for (let k = 0; k < subnets.length; k++) list.push({ subnet: subnets[(start + k) % subnets.length], type })
    }
    return list
  }

  async function launchOne (r: LaunchRequest): Promise<ProviderInstance> {
    const userData = Buffer.from(opts.userData(r)).toString('base64')
    const tags = [
      { Key: TAG_CLUSTER, Value: opts.cluster },
      { Key: TAG_INSTANCE_ID, Value: r.id },
      { Key: 'Name', Value: `federate-${r.id}`.slice(0, 255) },
      ...Object.entries(opts.tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
    ]
    const order = placements(r.id)
    // A preferred type goes first, the configured fallbacks after it.
    if (r.instanceType) order.sort((a, b) => Number(b.type === r.instanceType) - Number(a.type === r.instanceType))
    let lastCapacityError: unknown
    for (const p of order) {
      const token = clientToken(opts.cluster, r.id, p)
      const input: RunInstancesCommandInput = {
        LaunchTemplate: { LaunchTemplateId: opts.launchTemplateId, Version: opts.launchTemplateVersion ?? '$Default' },
        MinCount: 1,
        MaxCount: 1,
        ClientToken: token,
        UserData: userData,
        InstanceType: p.type as RunInstancesCommandInput['InstanceType'],
        SubnetId: p.subnet,
        TagSpecifications: [{ ResourceType: 'instance', Tags: tags }, { ResourceType: 'volume', Tags: tags }],
      }
      try {
        const res = await send('RunInstances', async () => await client.send(new RunInstancesCommand(input)))
        const inst = res.Instances?.[0] ? toInstance(res.Instances[0]) : null
        if (!inst) throw new ScalerError('FED_SCALER_LAUNCH_FAILED', `RunInstances for ${r.id} returned no tagged instance`)
        return inst
      } catch (err) {
        if (codeOf(err) === 'IdempotentParameterMismatch') {
          // This token already started an instance, with other parameters (an earlier try had
          // another token in its user-data): adopt that instance.
          const found = await describe([{ Name: 'client-token', Values: [token] }])
          const live = found.find((i) => i.state !== 'terminated')
          if (live) return live
          throw new ScalerError('FED_SCALER_LAUNCH_FAILED', `${r.id}: ClientToken ${token} was used but its instance is not visible yet`, { cause: err })
        }
        if (isCapacityError(err)) {
          logger.warn({ id: r.id, subnet: p.subnet, type: p.type, code: codeOf(err) }, 'no capacity: trying the next placement')
          lastCapacityError = err
          continue
        }
        if (err instanceof ScalerError) throw err
        if (isRetryableEc2Error(err)) throw new ScalerError('FED_SCALER_THROTTLED', `RunInstances for ${r.id}: ${(err as Error).message}`, { cause: err })
        throw new ScalerError('FED_SCALER_LAUNCH_FAILED', `RunInstances for ${r.id}: ${codeOf(err) || (err as Error).message}`, { cause: err })
      }
    }
    throw new ScalerError('FED_SCALER_LAUNCH_FAILED', `${r.id}: no capacity in any of ${order.length} placement(s)`, { cause: lastCapacityError })
  }

  return {
    name: 'ec2',
    client,
    async launch (requests) {
      if (closed) throw new ScalerError('FED_SCALER_CLOSED')
      const out: LaunchResult = { launched: [], failed: [] }
      const queue = [...requests]
      const worker = async () => {
        for (let r = queue.shift(); r; r = queue.shift()) {
          try {
            const inst = await launchOne(r)
            recent.set(inst.id, { ...inst, at: clock() })
            out.launched.push(inst)
          } catch (err) {
            out.failed.push({ id: r.id, error: err as Error })
          }
        }
      }
      await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 4, queue.length) }, worker))
      return out
    },
    async list () {
      if (closed) throw new ScalerError('FED_SCALER_CLOSED')
      let seen: ProviderInstance[]
      try {
        seen = await describe([{ Name: `tag:${TAG_CLUSTER}`, Values: [opts.cluster] }])
      } catch (err) {
        throw new ScalerError('FED_SCALER_LIST_FAILED', (err as Error).message, { cause: err })
      }
      // One entry per id: a live instance wins over a terminated one of the same id.
      const byId = new Map<string, ProviderInstance>()
      for (const i of seen) {
        const had = byId.get(i.id)
        if (!had || (had.state === 'terminated' && i.state !== 'terminated')) byId.set(i.id, i)
      }
      const now = clock()
      for (const [id, r] of recent) {
        if (byId.has(id)) recent.delete(id)
        else if (now - r.at > grace) recent.delete(id)
        else byId.set(id, { id: r.id, ref: r.ref, state: 'pending', instanceType: r.instanceType, launchedAt: r.launchedAt, addr: r.addr ?? null })
      }
      return [...byId.values()]
    },
    async terminate (ids) {
      if (closed) throw new ScalerError('FED_SCALER_CLOSED')
      if (ids.length === 0) return
      const refs = new Set<string>()
      try {
        for (let k = 0; k < ids.length; k += 200) {
          const found = await describe([
            { Name: `tag:${TAG_CLUSTER}`, Values: [opts.cluster] },
            { Name: `tag:${TAG_INSTANCE_ID}`, Values: ids.slice(k, k + 200) },
          ])
          for (const i of found) if (i.state !== 'terminated') refs.add(i.ref)
        }
        for (const id of ids) {
          const r = recent.get(id)
          if (r) refs.add(r.ref)
        }
        const stop = async (list: string[]) => { await send('TerminateInstances', async () => await client.send(new TerminateInstancesCommand({ InstanceIds: list }))) }
        const all = [...refs]
        for (let k = 0; k < all.length; k += 500) {
          const batch = all.slice(k, k + 500)
          try {
            await stop(batch)
          } catch (err) {
            if (!NOT_FOUND.has(codeOf(err))) throw err
            // One unknown id fails the whole call: go one by one; an unknown one is already gone.
            for (const ref of batch) {
              try {
                await stop([ref])
              } catch (e) {
                if (!NOT_FOUND.has(codeOf(e))) throw e
                logger.warn({ ref }, 'TerminateInstances: not found, treated as terminated')
              }
            }
          }
        }
      } catch (err) {
        throw new ScalerError('FED_SCALER_TERMINATE_FAILED', `${ids.join(', ')}: ${codeOf(err) || (err as Error).message}`, { cause: err })
      }
      for (const id of ids) recent.delete(id)
    },
    async close () {
      if (closed) return
      closed = true
      if (ownsClient) client.destroy()
    },
  }
}
