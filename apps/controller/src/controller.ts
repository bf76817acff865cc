import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import type pg from 'pg'
import { pino, type Logger } from 'pino'
import { loadConfig } from '@federate/config'
import { calls, INSTANCE_EMPTY_CHANNEL, instances, issueInstanceToken, revokeInstanceTokens, type Instance } from '@federate/db'
import { decide, initialPolicyState, newInstanceId, type Decision, type PolicyConfig, type PolicyState, type Provider, type ProviderInstance } from '@federate/scaler'
import { recordDecision, type DecisionAction } from './decisions.ts'
import { ControllerError } from './errors.ts'
import { createLeaderElection } from './leader.ts'
import { observeBootSec, observeCampaigns, observeInstanceCalls, strandedChannels, type InstanceCalls } from './observe.ts'
import { controllerSettings, type ControllerConfig } from './settings.ts'

// The reconcile loop, like a Kubernetes controller: observe (instances table, provider, heartbeats,
// campaign demand), decide (the pure policy of @federate/scaler), act idempotently. Every act is
// safe to repeat: a row is written before its launch and the launch is idempotent by instance id,
// so a leader that dies mid-way leaves work the next leader finishes without duplicates.

export interface ControllerDeps {
  pool: pg.Pool
  provider: Provider
  logger?: Logger
  clock?: () => Date
  /** Settles a lost (or cut) instance's open campaign attempts: the dialer's settleInstanceLost. */
  settleAttempts?: (instanceId: string) => Promise<number>
  /** Campaign attempts leased to an instance and not yet ended: a draining instance waits for them. */
  openAttempts?: (instanceId: string) => Promise<number>
  /** Written with each decision (default host:pid:random). */
  controllerId?: string
}

export interface ReconcileReport {
  leader: boolean
  decision?: Decision
  launched: string[]
  /** Rows written by an earlier pass (or an earlier leader) whose launch was repeated. */
  relaunched: string[]
  undrained: string[]
  drained: string[]
  terminated: Array<{ id: string, code: 'drained' | 'deadline', callsCut: number, pendingUploads: number }>
  lost: Array<{ id: string, code: string, reason: string, callsSettled: number, attemptsSettled: number }>
  failedLaunches: Array<{ id: string, error: string }>
  orphans: string[]
  errors: string[]
}

export interface Controller {
  readonly id: string
  readonly config: ControllerConfig
  /** Leader election and the loop (a pass every reconcilePeriodMs while leading). */
  start: () => void
  /** Tries once to become the leader (tests; `start` keeps trying by itself). */
  elect: () => Promise<boolean>
  isLeader: () => boolean
  /** One pass now (serialised with the loop's); a standby returns `{ leader: false }`. */
  reconcileOnce: () => Promise<ReconcileReport>
  /** PostgreSQL backend of the lock connection. */
  lockBackendPid: () => number | null
  /** Stops the loop, waits for a pass in progress, gives up the lock. Idempotent. */
  close: () => Promise<void>
}

const STARTING = new Set(['pending', 'booting', 'syncing'])

export function createController (config: Partial<ControllerConfig>, deps: ControllerDeps): Controller {
  // Unset keys take their defaults (the environment is not read here: config comes from main).
  const cfg: ControllerConfig = Object.freeze({ ...loadConfig(controllerSettings, { env: {} }), ...config })
  const logger = (deps.logger ?? pino({ level: 'silent' })).child({ module: 'controller' })
  const clock = deps.clock ?? (() => new Date())
  const { pool, provider } = deps
  const id = deps.controllerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`
  const policy: PolicyConfig = {
    min: cfg.min,
    max: cfg.max,
    callsPerInstance: cfg.callsPerInstance,
    headroom: cfg.headroom,
    campaignHeadroom: cfg.campaignHeadroom,
    scaleInTolerance: cfg.scaleInTolerance,
    scaleInStabilisationSec: cfg.scaleInStabilisationSec,
    saturationGrowth: cfg.saturationGrowth,
  }
  let policyState: PolicyState = initialPolicyState()
  let lastRecorded = ''
  let closed = false
  let timer: NodeJS.Timeout | undefined
  let running: Promise<ReconcileReport> | undefined

  const election = createLeaderElection({
    pool,
    cluster: cfg.cluster,
    retryMs: cfg.leaderRetryMs,
    logger,
    onChange (leader) {
      // A new term starts with no history: scale-in waits one whole window.
      policyState = initialPolicyState()
      lastRecorded = ''
      if (leader && timer) schedule(0)
    },
    // A draining instance reported itself empty: terminate it now, not at the next pass.
    channels: [INSTANCE_EMPTY_CHANNEL],
    onNotification () { if (timer) schedule(0) },
  })

  const act = () => { if (!election.isLeader() || closed) throw new ControllerError('FED_CONTROLLER_NOT_LEADER') }
  const ours = (r: Instance) => r.provider === provider.name
  const secondsSince = (d: Date | null, now: number) => d ? (now - d.getTime()) / 1000 : null
  const defaultType = () => provider.name === 'local' ? `sim.${cfg.localCapacity}` : cfg.ec2InstanceTypes[0] ?? null

  async function record (action: DecisionAction, code: string, reason: string, more: Partial<{ observed: number, desired: number, load: number, liveCalls: number, campaignDemand: number, instanceIds: string[], callsCut: number, details: Record<string, unknown> }> = {}) {
    await recordDecision(pool, {
      at: clock(),
      controllerId: id,
      action,
      code,
      reason,
      observed: more.observed ?? 0,
      desired: more.desired ?? 0,
      load: more.load ?? 0,
      liveCalls: more.liveCalls ?? 0,
      campaignDemand: more.campaignDemand ?? 0,
      instanceIds: more.instanceIds ?? [],
      callsCut: more.callsCut ?? 0,
      details: more.details ?? {},
    })
  }

  // Lost: settle its calls and campaign attempts, stop it at the provider, revoke its tokens.
  // Each step is idempotent; a failure leaves the row `lost` and the next pass finishes it.
  async function loseInstance (r: Instance, code: string, reason: string, report: ReconcileReport) {
    act()
    const first = r.state !== 'lost'
    if (first) {
      await instances.setState(pool, r.id, 'lost')
      await pool.query('UPDATE instances SET lost_at = COALESCE(lost_at, now()), end_reason = $2 WHERE id = $1', [r.id, `lost: ${reason}`])
    }
    const settled = await calls.settleLost(pool, r.id)
    const attempts = deps.settleAttempts ? await deps.settleAttempts(r.id) : 0
    await pool.query('UPDATE instances SET calls_cut = COALESCE(calls_cut, 0) + $2 WHERE id = $1', [r.id, settled.length])
    if (first) {
      report.lost.push({ id: r.id, code, reason, callsSettled: settled.length, attemptsSettled: attempts })
      await record('lost', code, `${r.id}: ${reason}; settled ${settled.length} call(s) and ${attempts} campaign attempt(s); it will be replaced`, { instanceIds: [r.id], callsCut: settled.length })
      logger.warn({ instance: r.id, code, calls: settled.length, attempts }, 'instance lost')
    }
    // Not ours (hand-installed, registered by its heartbeat): it stays `lost`, with its token, and
    // a heartbeat brings it back. Ours are stopped for good.
    if (!ours(r)) return
    act()
    await provider.terminate([r.id])
    await revokeInstanceTokens(pool, r.id)
    await instances.setState(pool, r.id, 'terminated')
  }

  async function finishDrain (r: Instance, code: 'drained' | 'deadline', report: ReconcileReport, now: number) {
    act()
    await provider.terminate([r.id])
    // Calls the app tier still has as active on it were cut (deadline) or never ended cleanly.
    const settled = await calls.settleLost(pool, r.id)
    const attempts = deps.settleAttempts ? await deps.settleAttempts(r.id) : 0
    await revokeInstanceTokens(pool, r.id)
    await instances.setState(pool, r.id, 'terminated')
    const cut = code === 'deadline' ? Math.max(r.activeCalls, settled.length) : settled.length
    const took = Math.round(secondsSince(r.drainStartedAt, now) ?? 0)
    await pool.query('UPDATE instances SET end_reason = $2, calls_cut = $3 WHERE id = $1', [r.id, code === 'drained' ? 'drained' : 'drain deadline', cut])
    report.terminated.push({ id: r.id, code, callsCut: cut, pendingUploads: r.pendingUploads })
    const reason = code === 'drained'
      ? `${r.id}: drained in ${took} s (no calls, no pending uploads): terminated`
      : `${r.id}: drain deadline (${cfg.drainDeadlineSec} s) passed with ${r.activeCalls} call(s) and ${r.pendingUploads} pending upload(s): terminated, ${cut} call(s) cut${attempts ? `, ${attempts} campaign attempt(s) settled` : ''}`
    await record('terminate', code, reason, { instanceIds: [r.id], callsCut: cut, details: { pendingUploads: r.pendingUploads, drainSec: took } })
    if (code === 'deadline') logger.warn({ instance: r.id, callsCut: cut, pendingUploads: r.pendingUploads }, 'drain deadline: calls cut')
    else logger.info({ instance: r.id, drainSec: took }, 'drained instance terminated')
  }

  // Issues a token per row (the plaintext goes to the instance only) and launches; the provider
  // returns instances already started for ids it knows.
  async function launchRows (rows: Array<{ id: string, launchAttempts: number }>, report: ReconcileReport, which: 'launched' | 'relaunched') {
    if (rows.length === 0) return
    act()
    const requests = []
    for (const r of rows) requests.push({ id: r.id, token: await issueInstanceToken(pool, r.id), instanceType: defaultType() ?? undefined })
    const result = await provider.launch(requests)
    act()
    for (const p of result.launched) {
      await pool.query(
        `UPDATE instances SET provider_ref = $2, instance_type = COALESCE($3, instance_type), addr = COALESCE(addr, $4),
           state = CASE WHEN state = 'pending' THEN 'booting' ELSE state END WHERE id = $1`,
        [p.id, p.ref, p.instanceType, p.addr ?? null])
      report[which].push(p.id)
    }
    for (const f of result.failed) {
      const attempts = (rows.find((r) => r.id === f.id)?.launchAttempts ?? 0) + 1
      await pool.query('UPDATE instances SET launch_attempts = $2, meta = meta || $3::jsonb WHERE id = $1', [f.id, attempts, JSON.stringify({ lastLaunchError: f.error.message.slice(0, 500) })])
      report.failedLaunches.push({ id: f.id, error: f.error.message })
      logger.warn({ instance: f.id, attempts, err: f.error.message }, 'launch failed')
      if (attempts >= cfg.maxLaunchAttempts) {
        await revokeInstanceTokens(pool, f.id)
        await instances.setState(pool, f.id, 'terminated')
        await pool.query('UPDATE instances SET end_reason = $2 WHERE id = $1', [f.id, `launch failed ${attempts} times: ${f.error.message.slice(0, 300)}`])
        await record('launch_failed', 'launch_failed', `${f.id}: launch failed ${attempts} time(s), given up (another id will be launched): ${f.error.message}`, { instanceIds: [f.id] })
      }
    }
  }

  async function pass (): Promise<ReconcileReport> {
    const report: ReconcileReport = { leader: true, launched: [], relaunched: [], undrained: [], drained: [], terminated: [], lost: [], failedLaunches: [], orphans: [], errors: [] }
    const now = clock().getTime()
    const rows = await instances.list(pool)
    let seen: Map<string, ProviderInstance> | null = null
    try {
      seen = new Map((await provider.list()).map((p) => [p.id, p]))
    } catch (err) {
      // Without the provider's view nothing is judged vanished or orphaned this pass.
      report.errors.push(`provider list: ${(err as Error).message}`)
      logger.warn({ err: (err as Error).message }, 'provider list failed')
    }
    const step = async (what: string, fn: () => Promise<void>) => {
      try {
        await fn()
      } catch (err) {
        if ((err as ControllerError).code === 'FED_CONTROLLER_NOT_LEADER') throw err
        report.errors.push(`${what}: ${(err as Error).message}`)
        logger.warn({ err: (err as Error).message, what }, 'reconcile step failed')
      }
    }

    // 1. Lost, vanished, never booted; finish what earlier passes left half-done.
    for (const r of rows) {
      const p = seen?.get(r.id)
      const hb = secondsSince(r.lastHeartbeatAt, now)
      const age = secondsSince(r.launchedAt, now)!
      let lost: [string, string] | null = null
      if (r.state === 'lost') {
        if (!ours(r)) continue
        lost = ['lost', 'marked lost earlier']
      } else if (hb !== null && hb > cfg.heartbeatLostSec) lost = ['heartbeat', `no heartbeat for ${Math.round(hb)} s (limit ${cfg.heartbeatLostSec} s)`]
      else if (hb === null && age > cfg.bootTimeoutSec) lost = ['boot_timeout', `never reported in ${Math.round(age)} s after launch (limit ${cfg.bootTimeoutSec} s)`]
      else if (ours(r) && seen && r.providerRef && (p?.state === 'terminated' || (p?.state === 'stopping' && r.state !== 'draining') || (!p && age > cfg.launchGraceSec))) {
        lost = ['vanished', p ? `the provider reports it ${p.state}` : `the provider has not listed it for ${Math.round(age)} s`]
      }
      if (lost) {
        const [code, reason] = lost
        await step(`lose ${r.id}`, async () => { await loseInstance(r, code, reason, report) })
      }
    }

    // 2. Rows whose launch never happened (or was not recorded): launch again, same ids.
    const fresh = await instances.list(pool)
    const unlaunched = fresh.filter((r) => ours(r) && r.state === 'pending' && !r.providerRef)
    for (const r of unlaunched.filter((u) => seen?.has(u.id))) {
      // Started by a leader that died before writing it down: adopt.
      const p = seen!.get(r.id)!
      act()
      await pool.query("UPDATE instances SET provider_ref = $2, instance_type = COALESCE($3, instance_type), state = CASE WHEN state = 'pending' THEN 'booting' ELSE state END WHERE id = $1", [r.id, p.ref, p.instanceType])
      report.relaunched.push(r.id)
    }
    const attemptsOf = async (ids: string[]) => {
      if (ids.length === 0) return []
      const { rows: a } = await pool.query<{ id: string, launch_attempts: number }>('SELECT id, launch_attempts FROM instances WHERE id = ANY($1)', [ids])
      return a.map((x) => ({ id: x.id, launchAttempts: x.launch_attempts }))
    }
    await step('relaunch', async () => {
      await launchRows(await attemptsOf(unlaunched.filter((u) => !seen?.has(u.id)).map((u) => u.id)), report, 'relaunched')
    })

    // 3. Draining instances: terminate when empty (a heartbeat after the drain began says so) or late.
    for (const r of fresh.filter((x) => x.state === 'draining' && ours(x))) {
      const reported = r.lastHeartbeatAt && r.drainStartedAt && r.lastHeartbeatAt.getTime() > r.drainStartedAt.getTime()
      // Campaign calls leased to it but not yet ringing count too: they end (or expire) soon.
      const leased = reported && r.activeCalls === 0 && r.pendingUploads === 0 && deps.openAttempts ? await deps.openAttempts(r.id) : 0
      if (reported && r.activeCalls === 0 && r.pendingUploads === 0 && leased === 0) await step(`terminate ${r.id}`, async () => { await finishDrain(r, 'drained', report, now) })
      else if (r.drainDeadline && now >= r.drainDeadline.getTime()) await step(`terminate ${r.id}`, async () => { await finishDrain(r, 'deadline', report, now) })
    }

    // 4. Instances of this fleet the provider runs and the table does not: stop them.
    if (seen) {
      const live = new Set((await instances.list(pool)).map((r) => r.id))
      // `seen` was listed before this pass stopped the drained and lost ones: not orphans.
      const stopped = new Set([...report.terminated.map((x) => x.id), ...report.lost.map((x) => x.id)])
      for (const p of seen.values()) {
        if (live.has(p.id) || stopped.has(p.id) || p.state === 'terminated') continue
        if (p.launchedAt && (now - p.launchedAt.getTime()) / 1000 < cfg.launchGraceSec) continue
        await step(`orphan ${p.id}`, async () => {
          act()
          await provider.terminate([p.id])
          report.orphans.push(p.id)
          await record('orphan', 'orphan', `${p.id} (${p.ref}) runs at the provider without a live instance row: terminated`, { instanceIds: [p.id] })
        })
      }
    }

    // 5. Decide.
    const now2 = clock().getTime()
    const current = (await instances.list(pool)).filter((r) => r.state !== 'lost')
    const serving = current.filter((r) => ['syncing', 'ready', 'draining'].includes(r.state) && (secondsSince(r.lastHeartbeatAt, now2) ?? Infinity) <= cfg.heartbeatLostSec)
    const reportedCalls = serving.reduce((s, r) => s + r.activeCalls, 0)
    // Campaign demand looks as far ahead as a launch decided now takes to serve: its boot, and
    // up to one period before the next pass sees it ready.
    const bootSec = await observeBootSec(pool, provider.name)
    const leadSec = (bootSec ?? cfg.launchLeadSec) + cfg.reconcilePeriodMs / 1000
    const campaigns = await observeCampaigns(pool, { horizonSec: cfg.campaignHorizonSec, defaultHoldSec: cfg.campaignHoldSec, leadSec })
    const ready = current.filter((r) => r.state === 'ready')
    const draining = current.filter((r) => r.state === 'draining')
    const starting = current.filter((r) => STARTING.has(r.state))
    // The calls up, as PostgreSQL has them now; the heartbeats' sum is recorded beside it.
    const liveCalls = campaigns.inboundLiveCalls + campaigns.campaignLiveCalls
    // Per instance calls, read only when needed: stranded channels while a campaign winds down and
    // still dials, and choosing whom to drain.
    let perInstance: Map<string, InstanceCalls> | undefined
    const instanceCalls = async () => (perInstance ??= await observeInstanceCalls(pool))
    const stranded = campaigns.windingDown && campaigns.demand.total > campaigns.demand.ending
      ? strandedChannels(ready.map((r) => ({ id: r.id, capacity: r.capacity || cfg.callsPerInstance })), await instanceCalls())
      : 0
    const { decision, state } = decide(policy, policyState, {
      at: now2,
      liveCalls,
      campaignLiveCalls: campaigns.campaignLiveCalls,
      campaignDemand: campaigns.demand.total,
      campaignEnding: campaigns.demand.ending,
      strandedChannels: stranded,
      ready: ready.length,
      starting: starting.length,
      draining: draining.length,
    })
    policyState = state
    report.decision = decision

    // 6. Act.
    const ids: string[] = []
    if (decision.undrain > 0) {
      // The busiest first: they are the furthest from done, so the least wasted by taking back.
      for (const r of [...draining].sort((a, b) => b.activeCalls - a.activeCalls).slice(0, decision.undrain)) {
        act()
        await instances.setState(pool, r.id, 'ready')
        report.undrained.push(r.id)
        ids.push(r.id)
      }
    }
    if (decision.launch > 0) {
      act()
      const created: Array<{ id: string, launchAttempts: number }> = []
      for (let k = 0; k < decision.launch; k++) {
        const row = await instances.create(pool, { id: newInstanceId(cfg.cluster), provider: provider.name, instanceType: defaultType(), meta: { launchedBy: id } })
        created.push({ id: row.id, launchAttempts: 0 })
      }
      ids.push(...created.map((c) => c.id))
      await step('launch', async () => { await launchRows(created, report, 'launched') })
    }
    if (decision.drain > 0) {
      // The first to empty first: the oldest youngest call (none: at once), then the fewest
      // calls, then the newest. Not simply the least loaded: in a campaign's decay, an instance
      // that was just handed a few late calls holds them a whole hold time, while a fuller one
      // whose calls all began a minute ago empties within seconds.
      // Youngest calls within the same 5 s count as together (the least loaded of them first).
      const calls = await instanceCalls()
      const empties = (r: Instance) => Math.floor((calls.get(r.id)?.youngestAt ?? -Infinity) / 5000)
      const candidates = ready.filter(ours).sort((a, b) => empties(a) - empties(b) || a.activeCalls - b.activeCalls || b.launchedAt.getTime() - a.launchedAt.getTime())
      const deadline = new Date(now2 + cfg.drainDeadlineSec * 1000)
      for (const r of candidates.slice(0, decision.drain)) {
        act()
        await instances.setState(pool, r.id, 'draining', { drainDeadline: deadline })
        report.drained.push(r.id)
        ids.push(r.id)
      }
    }
    const key = `${decision.code}|${decision.observed}|${decision.desired}`
    if (decision.action !== 'hold' || key !== lastRecorded) {
      lastRecorded = key
      await record(decision.action, decision.code, decision.reason, {
        observed: decision.observed,
        desired: decision.desired,
        load: decision.load,
        liveCalls,
        campaignDemand: campaigns.demand.total,
        instanceIds: ids,
        details: { reportedCalls, strandedChannels: stranded, ready: ready.length, starting: starting.length, draining: draining.length, recommended: decision.recommended, leadSec: Math.round(leadSec * 10) / 10, campaigns: campaigns.demand.byCampaign },
      })
    }
    if (decision.action !== 'hold') logger.info({ action: decision.action, desired: decision.desired, observed: decision.observed, reason: decision.reason }, 'scaling')
    return report
  }

  async function reconcileOnce (): Promise<ReconcileReport> {
    for (let p = running; p; p = running) await p.catch(() => {})
    if (closed || !election.isLeader()) return { leader: false, launched: [], relaunched: [], undrained: [], drained: [], terminated: [], lost: [], failedLaunches: [], orphans: [], errors: [] }
    const p = pass().catch((err) => {
      if ((err as ControllerError).code === 'FED_CONTROLLER_NOT_LEADER') {
        logger.warn('leadership lost during a pass: stopping it')
        return { leader: false, launched: [], relaunched: [], undrained: [], drained: [], terminated: [], lost: [], failedLaunches: [], orphans: [], errors: ['leadership lost during the pass'] }
      }
      throw err
    })
    running = p
    try {
      return await p
    } finally {
      if (running === p) running = undefined
    }
  }

  function schedule (ms: number) {
    if (closed) return
    if (timer) clearTimeout(timer)
    timer = setTimeout(() => {
      const go = election.isLeader() ? reconcileOnce() : Promise.resolve(null)
      go.catch((err) => { logger.error({ err: (err as Error).message }, 'reconcile pass failed') })
        .finally(() => schedule(cfg.reconcilePeriodMs))
    }, ms)
  }

  return {
    id,
    config: cfg,
    start () {
      if (closed || timer) return
      election.start()
      schedule(cfg.reconcilePeriodMs)
    },
    elect: async () => await election.tryAcquire(),
    isLeader: () => election.isLeader() && !closed,
    reconcileOnce,
    lockBackendPid: () => election.backendPid(),
    async close () {
      if (closed) return
      closed = true
      if (timer) clearTimeout(timer)
      for (let p = running; p; p = running) await p.catch(() => {})
      await election.close()
    },
  }
}
