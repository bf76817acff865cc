import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import pino, { type Logger } from 'pino'
import { AmiClient } from './ami-client.ts'
import { AgiServer } from './agi-server.ts'
import { AudioSync } from './audio-sync.ts'
import { Dialer } from './dialer.ts'
import { AgentError, AgentErrorCodes } from './errors.ts'
import { Heartbeat } from './heartbeat.ts'
import { createAgentMetrics, type AgentMetrics } from './metrics.ts'
import { RecordingUploader } from './recordings.ts'
import type { AgentConfig } from './settings.ts'
import { CallEndSpool, type CallEnd, type SendOutcome } from './spool.ts'
import { handleEnd, handleStep, type StepContext } from './step-handler.ts'
import { TierClient, type RpcClientFactory } from './tier-client.ts'

// The agent on one Asterisk instance: FastAGI steps, call.end with its spool, AMI originates
// for campaigns, heartbeats with drain/resume/sync, audio sync and recording uploads. No
// global state: a simulated fleet runs many agents in one process.

export const AGENT_VERSION = '0.1.0'

/** What other parts of the instance plug in (the audio sync, the recording uploader). */
export interface AgentHooks {
  /** Heartbeat command `sync` (or a newer manifest version announced): bring the audio up to date. */
  onSync?: (manifestVersion: number) => Promise<void> | void
  manifestVersion?: () => number
  pendingUploads?: () => number
  /** False until the first full audio sync is done. */
  ready?: () => boolean
}

export interface AgentOptions {
  logger?: Logger
  hooks?: AgentHooks
  /** Another XML-RPC client (tests, the simulator); default @federate/xmlrpc's. */
  createClient?: RpcClientFactory
  /** Grace for steps, originates and call ends in progress at close(). Default 5000 ms. */
  closeGraceMs?: number
  /** The fetch audio downloads and recording uploads use (default: global fetch). */
  fetch?: typeof globalThis.fetch
}

export interface Agent {
  start: () => Promise<void>
  close: () => Promise<void>
  /** The FastAGI port actually bound (after start). */
  readonly agiPort: number
  /** The /metrics port actually bound (after start), 0 when off. */
  readonly metricsPort: number
  readonly draining: boolean
  drain: () => void
  resume: () => void
  readonly metrics: AgentMetrics
  readonly tier: TierClient
  readonly spool: CallEndSpool
  readonly ami: AmiClient | null
  readonly dialer: Dialer | null
  readonly heartbeat: Heartbeat
  /** The audio sync (null when FEDERATE_AUDIO_SYNC is off or an onSync hook replaces it). */
  readonly audio: AudioSync | null
  /** The recording uploader (null when FEDERATE_RECORDING_UPLOAD is off). */
  readonly recordings: RecordingUploader | null
  /** Live calls as last counted. */
  activeCalls: () => Promise<number>
}

function retryable (err: unknown): boolean {
  const e = err as { faultCode?: unknown, retryable?: unknown }
  if (typeof e?.faultCode === 'number') return e.retryable === true
  return true
}

export function createAgent (config: AgentConfig, options: AgentOptions = {}): Agent {
  const logger = (options.logger ?? pino({ level: 'silent' })).child({ module: 'agent', instanceId: config.instanceId })
  const graceMs = options.closeGraceMs ?? 5000
  const metrics = createAgentMetrics()
  const tier = new TierClient({
    servers: config.servers,
    token: config.instanceToken,
    timeoutMs: config.callTimeoutMs,
    connectTimeoutMs: config.connectTimeoutMs,
    breakerFailures: config.breakerFailures,
    breakerCooldownMs: config.breakerCooldownMs,
    createClient: options.createClient,
    logger: logger.child({ module: 'tier' }),
    metrics,
  })
  let draining = false
  let closed = false
  let started = false
  const agiCalls = new Map<string, number>()
  const pendingEnds = new Set<Promise<void>>()

  async function sendEnd (record: CallEnd): Promise<SendOutcome> {
    try {
      await tier.call('call.end', record)
      return 'ok'
    } catch (err) {
      if (retryable(err)) return 'retry'
      logger.error({ err, callId: record.callId }, 'call.end refused for good')
      return 'rejected'
    }
  }

  // Audio sync and recording uploads, unless turned off (or, for the sync, replaced by hooks).
  const audio = config.audioSync && !options.hooks?.onSync
    ? new AudioSync({
      soundsDir: config.soundsDir,
      fetchManifest: async (since) => await tier.call('storage.manifest', since === undefined ? { instanceId: config.instanceId } : { instanceId: config.instanceId, since }),
      concurrency: config.syncConcurrency,
      downloadTimeoutMs: config.syncDownloadTimeoutMs,
      retryMs: config.syncRetryMs,
      fetch: options.fetch,
      logger: logger.child({ module: 'audio-sync' }),
      // The controller counts the instance as capacity from the heartbeat that says so: send it now.
      onReady: () => { heartbeat.now() },
    })
    : null
  const recordings = config.recordingUpload
    ? new RecordingUploader({
      instanceId: config.instanceId,
      recordingsDir: config.recordingsDir,
      pendingDir: join(config.spoolDir, 'uploads'),
      requestUpload: async (params) => await tier.call('recording.upload', params),
      keep: config.keepRecordings,
      concurrency: config.uploadConcurrency,
      timeoutMs: config.uploadTimeoutMs,
      retryMs: config.uploadRetryMs,
      fetch: options.fetch,
      logger: logger.child({ module: 'recordings' }),
    })
    : null
  const hooks: AgentHooks = {
    ...(audio ? { onSync: (v: number) => { audio.request(v) }, manifestVersion: () => audio.version, ready: () => audio.ready } : {}),
    ...(recordings ? { pendingUploads: () => recordings.count } : {}),
    ...options.hooks,
  }

  const spool = new CallEndSpool({
    dir: config.spoolDir,
    retryMs: config.spoolRetryMs,
    send: sendEnd,
    logger: logger.child({ module: 'spool' }),
    onCount: (n) => { metrics.spooled.set(n) },
  })

  async function endCall (record: CallEnd): Promise<void> {
    // A recording the caller hung up on never had its `recorded` step: look for it now.
    recordings?.callEnded(record.callId).catch((err: unknown) => { logger.warn({ err }, 'recordings sweep failed') })
    const run = (async () => {
      const outcome = await sendEnd(record)
      if (outcome !== 'retry') return
      try {
        await spool.put(record)
        logger.warn({ callId: record.callId }, 'call.end not acknowledged: spooled')
      } catch (err) {
        logger.error({ err, record }, 'call.end could not be spooled: record lost')
      }
    })()
    pendingEnds.add(run)
    try {
      await run
    } finally {
      pendingEnds.delete(run)
    }
  }

  const ami = config.amiEnabled
    ? new AmiClient({
      host: config.amiHost,
      port: config.amiPort,
      username: config.amiUsername,
      secret: config.amiSecret,
      actionTimeoutMs: config.amiActionTimeoutMs,
      logger: logger.child({ module: 'ami' }),
    })
    : null

  // One CoreShowChannels at a time, reused for 200 ms: the dialer and the heartbeat share it.
  let snapshot: { at: number, ids: Set<string> } | null = null
  let counting: Promise<Set<string>> | null = null
  async function liveCallIds (): Promise<Set<string>> {
    if (!ami || !ami.connected) {
      const cutoff = Date.now() - 6 * 3600_000
      for (const [id, at] of agiCalls) if (at < cutoff) agiCalls.delete(id)
      return new Set(agiCalls.keys())
    }
    if (snapshot && Date.now() - snapshot.at < 200) return snapshot.ids
    counting ??= ami.coreShowChannels()
      .then(({ linkedIds }) => {
        snapshot = { at: Date.now(), ids: linkedIds }
        metrics.activeCalls.set(linkedIds.size)
        return linkedIds
      })
      .finally(() => { counting = null })
    return await counting
  }

  const ctx: StepContext = {
    instanceId: config.instanceId,
    paths: { soundsDir: config.soundsDir, recordingsDir: config.recordingsDir },
    logger: logger.child({ module: 'agi' }),
    draining: () => draining,
    callStep: async (params) => {
      // The recording is complete when the dialplan reports it: queue the upload (never waited for).
      if (params.event === 'recorded' && recordings && typeof params.data.file === 'string') recordings.recorded(params.callId, params.data.file)
      return await tier.call('call.step', params)
    },
    endCall,
    calls: { add: (id) => { agiCalls.set(id, Date.now()) }, delete: (id) => { agiCalls.delete(id) } },
  }

  const agi = new AgiServer({
    host: config.agiHost,
    port: config.agiPort,
    readTimeoutMs: config.agiReadTimeoutMs,
    logger: ctx.logger,
    handler: async (conn, env) => {
      const script = (env.network_script ?? '').replace(/^\/+/, '').split(/[/?]/)[0]
      if (script === 'step') return await handleStep(conn, env, ctx)
      if (script === 'end') return await handleEnd(conn, env, ctx)
      ctx.logger.warn({ script }, 'unknown AGI script: nothing set')
      return 'unknown_script'
    },
    observe: (script, outcome, seconds) => { metrics.step.observe({ script, outcome }, seconds) },
  })

  const dialer = ami
    ? new Dialer({
      instanceId: config.instanceId,
      capacity: config.capacity,
      intervalMs: config.dialerIntervalMs,
      dialTemplate: config.dialTemplate,
      ami,
      logger: logger.child({ module: 'dialer' }),
      draining: () => draining,
      liveCallIds,
      next: async (params) => await tier.call('dialer.next', params),
      endCall,
      onOriginate: (outcome) => { metrics.originates.inc({ outcome }) },
    })
    : null

  let syncing: Promise<void> | null = null
  function sync (manifestVersion: number): void {
    if (!hooks.onSync || syncing) return
    syncing = Promise.resolve()
      .then(async () => { await hooks.onSync!(manifestVersion) })
      .catch((err: unknown) => { logger.error({ err }, 'audio sync failed') })
      .finally(() => { syncing = null })
  }

  const heartbeat = new Heartbeat({
    // Draining, the instance is terminated once a heartbeat says it is empty: say so sooner.
    intervalMs: () => draining ? Math.min(config.heartbeatMs, config.drainHeartbeatMs) : config.heartbeatMs,
    logger: logger.child({ module: 'heartbeat' }),
    report: async () => {
      let live: Set<string>
      try {
        live = await liveCallIds()
      } catch {
        live = new Set(agiCalls.keys())
      }
      // Originates still ringing hold a lease: count them, so a draining instance is not
      // terminated (and its leases settled as lost) while they may still be answered.
      let activeCalls = live.size
      for (const id of dialer?.inflight.keys() ?? []) if (!live.has(id)) activeCalls++
      return {
        instanceId: config.instanceId,
        activeCalls: Math.min(activeCalls, 2147483647),
        capacity: config.capacity,
        manifestVersion: hooks.manifestVersion?.() ?? 0,
        version: AGENT_VERSION,
        pendingUploads: hooks.pendingUploads?.() ?? 0,
        ready: hooks.ready?.() ?? true,
      }
    },
    send: async (params) => {
      const result = await tier.call('instance.heartbeat', params)
      if (hooks.manifestVersion && result.manifestVersion > hooks.manifestVersion()) sync(result.manifestVersion)
      return result
    },
    onCommand: (command, manifestVersion) => {
      if (command === 'drain' && !draining) {
        draining = true
        logger.info('draining: no new calls')
      } else if (command === 'resume' && draining && !closed) {
        draining = false
        logger.info('resumed: taking calls')
      } else if (command === 'sync') {
        sync(manifestVersion)
      }
    },
  })

  let metricsServer: Server | null = null
  let metricsPort = 0

  async function startMetrics (): Promise<void> {
    if (config.metricsPort === 0) return
    metricsServer = createServer((req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404).end()
        return
      }
      metrics.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text)
      }, (err: unknown) => {
        logger.error({ err }, 'metrics failed')
        res.writeHead(500).end()
      })
    })
    await new Promise<void>((resolve, reject) => {
      metricsServer!.once('error', reject)
      metricsServer!.listen(config.metricsPort, config.metricsHost, () => { resolve() })
    })
    const addr = metricsServer.address()
    metricsPort = typeof addr === 'object' && addr ? addr.port : 0
  }

  let closing: Promise<void> | null = null

  return {
    async start () {
      if (closed) throw new AgentError(AgentErrorCodes.CLOSED, 'the agent is closed')
      if (started) return
      started = true
      await agi.listen()
      await startMetrics()
      ami?.start()
      spool.start()
      audio?.start()
      await recordings?.start()
      heartbeat.start()
      dialer?.start()
      logger.info({ agiPort: agi.port, metricsPort, servers: config.servers, ami: config.amiEnabled }, 'agent started')
    },
    close () {
      closing ??= (async () => {
        closed = true
        draining = true
        // Stop taking work first, then let what is in progress finish, then close the sockets.
        await dialer?.close(graceMs)
        await heartbeat.close()
        await audio?.close()
        await agi.close(graceMs)
        await Promise.allSettled([...pendingEnds])
        // After the last step: every recording is queued; give the uploads a bounded time.
        await recordings?.close(config.uploadCloseWaitMs)
        await spool.flush().catch((err: unknown) => { logger.warn({ err }, 'last spool pass failed') })
        await spool.close()
        await ami?.close()
        await tier.close()
        if (metricsServer) await new Promise<void>((resolve) => { metricsServer!.close(() => { resolve() }); metricsServer!.closeAllConnections() })
        logger.info('agent closed')
      })()
      return closing
    },
    get agiPort () { return agi.port },
    get metricsPort () { return metricsPort },
    get draining () { return draining },
    drain () { draining = true },
    resume () { if (!closed) draining = false },
    metrics,
    tier,
    spool,
    ami,
    dialer,
    heartbeat,
    audio,
    recordings,
    activeCalls: async () => (await liveCallIds()).size,
  }
}
