#!/usr/bin/env node
import { Command } from 'commander'
import { commands } from './commands/index.ts'
import { fail } from './output.ts'

const program = new Command('federate')
  .description('Federate: the application tier for a fleet of stateless Asterisk instances')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText('after', `
Examples:
  $ federate demo                 the whole system on this machine, with a live dashboard
  $ federate services up          start PostgreSQL, Redis, Memcached and S3 locally
  $ federate migrate              create or upgrade the database schema
  $ federate serve --port 8080    run an app server`)

// The AWS SDK warns on every start under Node 20 (its later releases need 22); we know, and say so in the README.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

for (const load of commands) (await load()).register(program)

try {
  await program.parseAsync(process.argv)
} catch (err) {
  fail(err)
}
