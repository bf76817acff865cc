import type { Command } from 'commander'
import { API_KEY_ROLES, createApiKey, listApiKeys, revokeApiKey, type ApiKeyRole } from '@federate/db'
import { withDatabase } from '../db-context.ts'
import { CliError, EXIT, print } from '../output.ts'

export function register (program: Command): void {
  const keys = program.command('keys').description('API keys for operators (REST API and dashboard)')
    .addHelpText('after', `
Roles: viewer (read), operator (flows, numbers, campaigns, audio), admin (keys, instance tokens).

Examples:
  $ federate keys create --role operator --name "campaign team"
  $ federate keys list --json
  $ federate keys revoke k_3f9a...`)

  keys.command('create')
    .description('create an API key and print it (it is shown only once; only its hash is stored)')
    .requiredOption('--role <role>', `one of ${API_KEY_ROLES.join(', ')}`)
    .option('--name <name>', 'who or what the key is for', 'cli')
    .option('--json', 'print as JSON')
    .action(async (opts: { role: string, name: string, json?: boolean }) => {
      if (!(API_KEY_ROLES as readonly string[]).includes(opts.role)) {
        throw new CliError(`--role must be one of ${API_KEY_ROLES.join(', ')}, got "${opts.role}"`, EXIT.USAGE)
      }
      const created = await withDatabase(async (pool) => await createApiKey(pool, opts.role as ApiKeyRole, opts.name))
      print(opts.json, created, () => created.key)
    })

  keys.command('list')
    .description('list API keys (ids, roles and names; never the keys)')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      const list = await withDatabase(async (pool) => await listApiKeys(pool, { includeRevoked: true }))
      print(opts.json, list, () => list.length === 0
        ? 'no API keys yet: federate keys create --role admin'
        : list.map((k) => `${k.id}  ${k.role.padEnd(8)}  ${k.revokedAt ? 'revoked ' : 'active  '}  ${k.name}`).join('\n'))
    })

  keys.command('revoke <id>')
    .description('revoke an API key by id')
    .action(async (id: string) => {
      const done = await withDatabase(async (pool) => await revokeApiKey(pool, id))
      if (!done) throw new CliError(`no active key with id ${id}`, EXIT.USAGE)
      process.stdout.write(`revoked ${id}\n`)
    })
}
