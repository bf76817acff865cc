import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import type { Command } from 'commander'
import { flows as flowsRepo, numbers as numbersRepo } from '@federate/db'
import { validateFlow } from '@federate/flows'
import { cacheConfig, withDatabase } from '../db-context.ts'
import { promptCheckFor } from './audio.ts'
import { CliError, EXIT, print } from '../output.ts'

async function readJson (file: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, EXIT.USAGE)
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new CliError(`${file} is not valid JSON: ${(err as Error).message}`, EXIT.USAGE)
  }
}

export function register (program: Command): void {
  const cmd = program.command('flows').description('call flows: validate, publish versions, bind numbers')
    .addHelpText('after', `
A flow is a JSON document (docs/flows.md). Each push publishes a new immutable version;
a number bound with --number follows the flow's latest version.

Examples:
  $ federate flows validate examples/flows/ivr.json
  $ federate flows push examples/flows/ivr.json --number 15551230000
  $ federate flows push poll.json --id election-poll --json
  $ federate flows list`)

  cmd.command('validate <file>')
    .description('check a flow document; exit 2 with the problems when it is invalid')
    .option('--json', 'print as JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const result = validateFlow(await readJson(file))
      if (!result.ok) {
        print(opts.json, result, () => result.errors.map((e) => `${file}: ${e.message}`).join('\n'))
        process.exitCode = EXIT.USAGE
        return
      }
      print(opts.json, { ok: true }, () => `${file}: valid`)
    })

  cmd.command('push <file>')
    .description('validate a flow and publish it as a new version; optionally bind dialled numbers to it')
    .option('--id <flowId>', 'flow id (default: the file name without .json)')
    .option('--number <did...>', 'dialled number(s) to route to this flow')
    .option('--no-prompt-check', 'publish even if the flow plays prompts missing from the audio library')
    .option('--json', 'print as JSON')
    .action(async (file: string, opts: { id?: string, number?: string[], promptCheck: boolean, json?: boolean }) => {
      const definition = await readJson(file)
      const id = opts.id ?? basename(file).replace(/\.json$/i, '')
      const { publishFlow, FlowRejectedError } = await import('@federate/server')
      const { createCache } = await import('@federate/cache')
      const cc = cacheConfig()
      const cache = createCache({ servers: cc.memcachedServers, enabled: cc.cacheEnabled, prefix: cc.cachePrefix })
      try {
        const published = await withDatabase(async (pool) => {
          const { createFlowSource } = await import('@federate/server')
          // A flow must not play prompts the instances will not have (when the library is in use).
          const check = opts.promptCheck ? await promptCheckFor(pool) : { skipped: '--no-prompt-check' }
          if (check.skipped) process.stderr.write(`federate: prompts not checked: ${check.skipped}\n`)
          return await publishFlow(pool, createFlowSource(pool, cache), definition, { id, numbers: opts.number, missingPrompts: check.missingPrompts })
        })
        print(opts.json, published, () => `published ${published.flowId} version ${published.version}` +
          (published.numbers.length ? `; ${published.numbers.join(', ')} -> ${published.flowId}@latest` : ''))
      } catch (err) {
        if (err instanceof FlowRejectedError) {
          const hint = err.code === 'FED_FLOW_MISSING_PROMPTS' ? ' (upload them with `federate audio upload`, or push with --no-prompt-check)' : ''
          throw new CliError(`${file}: ${err.message}${hint}`, EXIT.USAGE)
        }
        throw err
      } finally {
        await cache.close()
      }
    })

  cmd.command('list')
    .description('flows and the numbers bound to them')
    .option('--json', 'print as JSON')
    .action(async (opts: { json?: boolean }) => {
      const [list, bindings] = await withDatabase(async (pool) => [await flowsRepo.list(pool), await numbersRepo.list(pool)] as const)
      print(opts.json, { flows: list, numbers: bindings }, () => list.length === 0
        ? 'no flows yet: federate flows push <file.json>'
        : list.map((f) => `${f.id} v${f.latestVersion}  ${bindings.filter((b) => b.flowId === f.id).map((b) => b.number + (b.version ? `@${b.version}` : '')).join(' ')}`).join('\n'))
    })
}
