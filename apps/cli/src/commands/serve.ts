import type { Command } from 'commander'
import { CliError, EXIT } from '../output.ts'

export function register (program: Command): void {
  program
    .command('serve')
    .description('run an app server: XML-RPC for instances at /RPC2, REST at /api/v1, dashboard, /metrics')
    .option('-p, --port <port>', 'port to listen on (default FEDERATE_PORT or 8080)', (v) => {
      const n = Number(v)
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CliError(`--port must be 0-65535, got ${v}`, EXIT.USAGE)
      return n
    })
    .option('--host <address>', 'address to listen on (default FEDERATE_HOST or 127.0.0.1)')
    .addHelpText('after', `
Every setting comes from the environment (see docs/operations.md): DATABASE_URL,
MEMCACHED_SERVERS, REDIS_URL, S3_ENDPOINT, FEDERATE_PORT, ... Run \`federate migrate\` first.
App servers hold no call state: run as many as you like behind a load balancer.

Examples:
  $ federate serve
  $ FEDERATE_HOST=0.0.0.0 federate serve --port 8081`)
    .action(async (opts: { port?: number, host?: string }) => {
      const { startServer } = await import('@federate/server')
      const { url } = await startServer(opts)
      process.stderr.write(`federate: app server listening on ${url}\n`)
    })
}
