import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import pino, { type Logger } from 'pino'
import { SimError } from './errors.ts'
import { createFleet, type Fleet, type FleetOptions } from './fleet.ts'

// A fleet of simulated instances, each with its own real agent (@federate/agent), in one
// process: what `federate sim` runs, and what end-to-end tests use. Per instance the agent
// gets the instance's AMI port and its own spool, sounds and recordings folders; the
// instance sends its FastAGI requests to that agent's port.
//
// Sounds follow the real layout: `<workDir>/<id>/sounds` stands for /var/lib/asterisk/sounds,
// the agent's FEDERATE_SOUNDS_DIR is its `federate/` folder (where audio sync writes and where
// the agent's prompt paths point), and the instance checks those absolute paths on disk.

export interface SimulationOptions extends Omit<FleetOptions, 'agiTarget' | 'soundsDir' | 'recordingsDir'> {
  /** Per-instance folders go under `${workDir}/${instanceId}/`. */
  workDir: string
  /** App servers' XML-RPC URLs. */
  servers: string[]
  /** One token for every instance, or one per instance id. */
  token: string | Record<string, string> | ((instanceId: string) => string)
  /** The AMI secret both sides use (user `federate`). */
  amiSecret?: string
  /** Check prompts against each instance's sounds folder (missing ones are counted). */
  checkPrompts?: boolean
  /** More agent settings (names as in agentSettings, e.g. heartbeatMs, dialTemplate). */
  agentSettings?: Record<string, unknown>
  /** Grace for the agents' own close. */
  agentCloseGraceMs?: number
}

interface AgentLike {
  start: () => Promise<void>
  close: () => Promise<void>
  drain: () => void
  readonly agiPort: number
}

export interface Simulation {
  readonly fleet: Fleet
  readonly agents: AgentLike[]
  start: () => Promise<void>
  /** Drains the agents, stops the fleet (live calls get `graceMs`, then are cut), closes the agents. */
  stop: (opts?: { graceMs?: number }) => Promise<void>
}

export function createSimulation (o: SimulationOptions): Simulation {
  const logger: Logger = o.logger ?? pino({ level: 'silent' })
  const secret = o.amiSecret ?? 'federate'
  const dir = (id: string, what: string): string => join(o.workDir, id, what)
  // SOUNDS_PREFIX of @federate/storage: the agent refuses any other name while it syncs audio.
  const promptsDir = (id: string): string => join(dir(id, 'sounds'), 'federate')
  const fleet = createFleet({
    ...o,
    amiUsers: { federate: secret },
    // Rebound to each agent's real port once the agents listen.
    agiTarget: { host: '127.0.0.1', port: 1 },
    soundsDir: o.checkPrompts === false ? undefined : (_i, id) => dir(id, 'sounds'),
    recordingsDir: (_i, id) => dir(id, 'recordings'),
  })
  const agents: AgentLike[] = []
  let stopped: Promise<void> | undefined
  const tokenOf = (id: string): string => {
    const t = typeof o.token === 'function' ? o.token(id) : typeof o.token === 'string' ? o.token : o.token[id]
    if (!t) throw new SimError('FED_SIM_BAD_OPTIONS', `no instance token for ${id}`)
    return t
  }

  return {
    fleet,
    agents,
    async start () {
      // Imported here: the sim alone (tests, external agents) does not load the agent.
      const { createAgent, agentSettings } = await import('@federate/agent')
      const { loadConfig } = await import('@federate/config')
      // Inbound calls wait until every agent listens.
      await fleet.start({ inbound: false })
      for (const inst of fleet.instances) {
        for (const path of [dir(inst.id, 'spool'), promptsDir(inst.id), dir(inst.id, 'recordings')]) await mkdir(path, { recursive: true })
        const config = loadConfig(agentSettings, {
          env: {},
          file: {
            ...o.agentSettings,
            servers: o.servers,
            instanceId: inst.id,
            instanceToken: tokenOf(inst.id),
            agiHost: '127.0.0.1',
            agiPort: 0,
            amiHost: '127.0.0.1',
            amiPort: inst.amiPort,
            amiUsername: 'federate',
            amiSecret: secret,
            capacity: inst.capacity,
            spoolDir: dir(inst.id, 'spool'),
            soundsDir: promptsDir(inst.id),
            recordingsDir: dir(inst.id, 'recordings'),
            metricsPort: 0,
          },
        })
        const agent = createAgent(config, { logger: logger.child({ agent: inst.id }), closeGraceMs: o.agentCloseGraceMs })
        agents.push(agent)
        await agent.start()
        inst.setAgiTarget({ host: '127.0.0.1', port: agent.agiPort })
      }
      fleet.startInbound()
    },
    stop (opts = {}) {
      stopped ??= (async () => {
        for (const a of agents) a.drain()
        await fleet.stop(opts)
        await Promise.allSettled(agents.map((a) => a.close()))
      })()
      return stopped
    },
  }
}
