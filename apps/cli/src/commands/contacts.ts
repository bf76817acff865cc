import { createReadStream, type ReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { Command } from 'commander'
import cliProgress from 'cli-progress'
import type { BadRow } from '@federate/dialer'
import { CliError, EXIT, print } from '../output.ts'
import { withDialer } from './campaign.ts'

/** Bad rows printed (and kept in memory); the rest are counted. */
const MAX_LISTED_BAD_ROWS = 1000

/** The dialer's bad-row list and the total count (it ends a capped list with a `line 0` marker). */
function splitBadRows (bad: BadRow[]): { bad: BadRow[], badCount: number } {
  const last = bad[bad.length - 1]
  const more = last?.line === 0 ? /^(\d+) more bad rows not listed$/.exec(last.reason) : null
  const listed = more ? bad.slice(0, -1) : bad
  return { bad: listed, badCount: listed.length + (more ? Number(more[1]) : 0) }
}

/** The file as a stream, with its size; a missing file is a usage error. */
async function openCsv (file: string): Promise<{ input: ReadStream, size: number }> {
  let size: number
  try {
    const s = await stat(file)
    if (!s.isFile()) throw new Error('not a file')
    size = s.size
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, EXIT.USAGE)
  }
  return { input: createReadStream(file, { highWaterMark: 64 * 1024 }), size }
}

/**
 * A progress bar on stderr (people only: not with --json, not when stderr is not a terminal),
 * driven by the bytes the importer has read out of the file.
 */
function progressBar (enabled: boolean, size: number, input: ReadStream) {
  if (!enabled || !process.stderr.isTTY || size === 0) return { update: (_p: Record<string, number>) => {}, stop: () => {} }
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    format: '{bar} {percentage}% | {rows} rows: {imported} imported, {duplicates} duplicates, {dnc} dnc, {bad} bad',
    hideCursor: true,
    clearOnComplete: true,
  }, cliProgress.Presets.shades_classic)
  bar.start(size, 0, { rows: 0, imported: 0, duplicates: 0, dnc: 0, bad: 0 })
  return {
    update: (p: Record<string, number>) => bar.update(Math.min(size, input.bytesRead), { imported: 0, duplicates: 0, dnc: 0, ...p }),
    stop: () => { bar.update(size); bar.stop() },
  }
}

function badLines (file: string, bad: BadRow[], badCount: number): string[] {
  const lines = bad.map((b) => `${file}:${b.line}: ${b.reason}`)
  if (badCount > bad.length) lines.push(`… and ${badCount - bad.length} more bad rows`)
  return lines
}

export function register (program: Command): void {
  const cmd = program.command('contacts').description('load a campaign\'s contacts and the do-not-call list from CSV files')
    .addHelpText('after', `
The CSV needs a header naming a phone column (phone, number, msisdn, mobile, tel, e164); an
optional tz column gives each contact's time zone (else it comes from the number); every other
column travels with the call as a variable. Files are streamed: any size, flat memory.

Examples:
  $ federate contacts dnc regulator-list.csv --default-country US
  $ federate contacts import contacts.csv --campaign cmp_1a2b3c --default-country US`)

  cmd.command('import <csv>')
    .description('add contacts to a campaign; duplicates and do-not-call numbers are skipped; exit 2 if any row was bad (the good ones still load)')
    .requiredOption('--campaign <id>', 'the campaign (draft, running or paused)')
    .option('--default-country <cc>', 'ISO country for numbers written without +country code, e.g. US')
    .option('--default-tz <zone>', 'time zone for numbers whose prefix maps to none (default UTC)')
    .option('--json', 'print as JSON: {imported, duplicates, dnc, bad: [{line, reason}], badCount}')
    .addHelpText('after', `
Example CSV:
  phone,first_name,tz
  +12125550101,Ann,America/New_York
  (310) 555-0102,Bob,

Examples:
  $ federate contacts import contacts.csv --campaign cmp_1a2b3c --default-country US
  $ federate contacts import contacts.csv --campaign cmp_1a2b3c --json > report.json`)
    .action(async (file: string, opts: { campaign: string, defaultCountry?: string, defaultTz?: string, json?: boolean }) => {
      if (opts.defaultCountry !== undefined && !/^[A-Za-z]{2}$/.test(opts.defaultCountry)) {
        throw new CliError(`--default-country must be a two-letter ISO country code such as US or FR (got ${JSON.stringify(opts.defaultCountry)})`, EXIT.USAGE)
      }
      const { input, size } = await openCsv(file)
      const bar = progressBar(!opts.json, size, input)
      let result
      try {
        result = await withDialer(async (d) => await d.importContacts(opts.campaign, input, {
          defaultCountry: opts.defaultCountry?.toUpperCase(),
          defaultTimeZone: opts.defaultTz,
          maxBadRows: MAX_LISTED_BAD_ROWS,
          onProgress: (p) => bar.update({ ...p }),
        }), { campaignId: opts.campaign })
      } finally {
        bar.stop()
        input.destroy()
      }
      const { bad, badCount } = splitBadRows(result.bad)
      const out = { imported: result.imported, duplicates: result.duplicates, dnc: result.dnc, bad, badCount }
      print(opts.json, out, () => [
        ...badLines(file, bad, badCount),
        `${opts.campaign}: imported ${out.imported}, ${out.duplicates} duplicates, ${out.dnc} on the do-not-call list, ${badCount} bad rows`,
      ].join('\n'))
      if (badCount > 0) process.exitCode = EXIT.USAGE
    })

  cmd.command('dnc <csv>')
    .description('add numbers to the do-not-call list (a CSV with a phone column, or one number per line); exit 2 if any row was bad')
    .option('--default-country <cc>', 'ISO country for numbers written without +country code, e.g. US')
    .option('--source <text>', 'where the list came from (kept with each number)')
    .option('--json', 'print as JSON: {added, duplicates, bad: [{line, reason}], badCount}')
    .addHelpText('after', `
Import the list before the contacts: contacts already loaded are not re-checked.

Examples:
  $ federate contacts dnc regulator-2024-06.csv --source "national DNC June 2024"
  $ federate contacts dnc numbers.txt --default-country US --json`)
    .action(async (file: string, opts: { defaultCountry?: string, source?: string, json?: boolean }) => {
      const { input, size } = await openCsv(file)
      const bar = progressBar(!opts.json, size, input)
      let result
      try {
        result = await withDialer(async (d) => await d.importDnc(input, {
          defaultCountry: opts.defaultCountry?.toUpperCase(),
          source: opts.source ?? file,
          maxBadRows: MAX_LISTED_BAD_ROWS,
          onProgress: (p) => bar.update({ rows: p.rows, imported: p.added, duplicates: p.duplicates, bad: p.bad }),
        }))
      } finally {
        bar.stop()
        input.destroy()
      }
      const { bad, badCount } = splitBadRows(result.bad)
      const out = { added: result.added, duplicates: result.duplicates, bad, badCount }
      print(opts.json, out, () => [
        ...badLines(file, bad, badCount),
        `do-not-call list: added ${out.added}, ${out.duplicates} already listed, ${badCount} bad rows`,
      ].join('\n'))
      if (badCount > 0) process.exitCode = EXIT.USAGE
    })
}
