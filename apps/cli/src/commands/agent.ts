import type { Command } from 'commander'
import { CliError, EXIT } from '../output.ts'

// `federate agent`: the process that runs on each Asterisk instance (FastAGI on loopback, AMI,
// heartbeat, spool). Settings come from --config (JSON) and the environment; see apps/agent.

export function register (program: Command): void {
  program
    .command('agent')
    .description('run the agent on an Asterisk instance (FastAGI, AMI originates, heartbeat)')
    .option('-c, --config <file>', 'JSON settings file (default: $FEDERATE_AGENT_CONFIG)')
    .option('--print-settings', 'print the settings table and exit')
    .addHelpText('after', `
Examples:
  $ federate agent --config /etc/federate/agent.json
  $ FEDERATE_SERVERS=http://10.0.0.5:8080/RPC2 FEDERATE_INSTANCE_ID=i-1 FEDERATE_INSTANCE_TOKEN=... federate agent`)
    .action(async (opts: { config?: string, printSettings?: boolean }) => {
      const { agentSettings, runAgent } = await import('@federate/agent')
      if (opts.printSettings) {
        const { settingsTable } = await import('@federate/config')
        process.stdout.write(settingsTable(agentSettings) + '\n')
        return
      }
      try {
        await runAgent({ configFile: opts.config })
      } catch (err) {
        const code = (err as { code?: string }).code
        if (code === 'FED_CONFIG_INVALID') throw new CliError((err as Error).message, EXIT.USAGE, { cause: err })
        if (code === 'EADDRINUSE') throw new CliError(`the FastAGI or metrics port is in use: ${(err as Error).message}`, EXIT.UNAVAILABLE, { cause: err })
        throw err
      }
    })
}
