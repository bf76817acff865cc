import { readFile } from 'node:fs/promises'
import { loadConfig } from '@federate/config'
import { agentSettings, type AgentConfig } from './settings.ts'

/**
 * Reads the agent's configuration: the JSON file named by `file` (or FEDERATE_AGENT_CONFIG),
 * then the environment over it. Keys in the file are the setting names or their variables.
 */
export async function loadAgentConfig (opts: { file?: string, env?: Record<string, string | undefined> } = {}): Promise<AgentConfig> {
  const env = opts.env ?? process.env
  const path = opts.file ?? env.FEDERATE_AGENT_CONFIG
  let file: Record<string, unknown> = {}
  if (path) {
    try {
      file = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>
    } catch (err) {
      throw new Error(`cannot read the agent config file ${path}: ${(err as Error).message}`, { cause: err })
    }
  }
  return loadConfig(agentSettings, { env, file })
}
