import type { Command } from 'commander'
import { instances, issueInstanceToken, revokeInstanceTokens } from '@federate/db'
import { withDatabase } from '../db-context.ts'
import { CliError, EXIT, print } from '../output.ts'

const ID = /^[A-Za-z0-9_.:-]{1,128}$/

export function register (program: Command): void {
  const cmd = program.command('instances').description('the Asterisk instances the tier knows, and their tokens')
    .addHelpText('after', `
Examples:
  $ federate instances token ast-7          token for a hand-installed Asterisk box
  $ federate instances revoke ast-7         its tokens stop working within seconds
  $ federate instances list --json`)

  cmd.command('token <instanceId>')
    .description('issue a new token for an instance and print it (shown once; put it in the agent\'s config)')
    .option('--json', 'print as JSON')
    .action(async (instanceId: string, opts: { json?: boolean }) => {
      if (!ID.test(instanceId)) throw new CliError(`instance id must match ${ID.source}`, EXIT.USAGE)
      const token = await withDatabase(async (pool) => await issueInstanceToken(pool, instanceId))
      print(opts.json, { instanceId, token }, () => token)
    })

  cmd.command('revoke <instanceId>')
    .description('revoke every token of an instance')
    .action(async (instanceId: string) => {
      const n = await withDatabase(async (pool) => await revokeInstanceTokens(pool, instanceId))
      process.stdout.write(`revoked ${n} token(s) of ${instanceId}\n`)
    })

  cmd.command('list')
    .description('every instance with its state and load')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      const list = await withDatabase(async (pool) => await instances.list(pool))
      print(opts.json, list, () => list.length === 0
        ? 'no instances yet'
        : list.map((i) => `${i.id.padEnd(24)} ${i.state.padEnd(10)} ${String(i.activeCalls).padStart(5)}/${i.capacity} calls  manifest v${i.manifestVersion}`).join('\n'))
    })
}
