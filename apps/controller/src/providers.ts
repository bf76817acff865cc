import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Logger } from 'pino'
import { createEc2Provider, createLocalProvider, renderUserData, type Provider } from '@federate/scaler'
import { ControllerError } from './errors.ts'
import { trySimBundle } from './sim-bundle.ts'
import type { ControllerConfig } from './settings.ts'

const DEFAULT_USER_DATA = fileURLToPath(new URL('../../../infra/aws/user-data.yaml', import.meta.url))

/** The provider the configuration names, ready to use. */
export function createProviderFromConfig (cfg: ControllerConfig, { logger }: { logger?: Logger } = {}): Provider {
  if (cfg.provider === 'local') {
    const stateDir = cfg.localStateDir || join(tmpdir(), `federate-local-${cfg.cluster}`)
    return createLocalProvider({
      servers: cfg.agentServers,
      cluster: cfg.cluster,
      stateDir,
      command: (cfg.localBundle ? trySimBundle(stateDir, logger) : null) ?? undefined,
      capacity: cfg.localCapacity,
      speed: cfg.localSpeed,
      seed: cfg.localSeed,
      killAfterMs: cfg.localKillAfterSec * 1000,
      logger,
    })
  }
  if (!cfg.ec2LaunchTemplateId) throw new ControllerError('FED_CONTROLLER_INVALID_CONFIG', 'FEDERATE_EC2_LAUNCH_TEMPLATE_ID is required with FEDERATE_PROVIDER=ec2')
  const file = cfg.ec2UserDataFile || DEFAULT_USER_DATA
  let template: string
  try {
    template = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ControllerError('FED_CONTROLLER_INVALID_CONFIG', `FEDERATE_EC2_USER_DATA_FILE: cannot read ${file}`, { cause: err })
  }
  if (template.includes('{{agentPackageUrl}}') && !cfg.ec2AgentPackageUrl) {
    throw new ControllerError('FED_CONTROLLER_INVALID_CONFIG', 'the user-data template installs the agent from {{agentPackageUrl}}: set FEDERATE_EC2_AGENT_PACKAGE_URL')
  }
  const tags = Object.fromEntries(cfg.ec2Tags.map((t) => [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)]))
  return createEc2Provider({
    region: cfg.ec2Region,
    endpoint: cfg.ec2Endpoint || undefined,
    cluster: cfg.cluster,
    launchTemplateId: cfg.ec2LaunchTemplateId,
    launchTemplateVersion: cfg.ec2LaunchTemplateVersion,
    subnets: cfg.ec2Subnets,
    instanceTypes: cfg.ec2InstanceTypes,
    tags,
    listGraceMs: cfg.launchGraceSec * 1000,
    userData: (r) => renderUserData(template, {
      instanceId: r.id,
      instanceToken: r.token,
      servers: cfg.agentServers.join(','),
      capacity: cfg.callsPerInstance,
      cluster: cfg.cluster,
      agentPackageUrl: cfg.ec2AgentPackageUrl,
    }),
    logger,
  })
}
