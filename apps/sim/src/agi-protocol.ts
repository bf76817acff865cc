// The AGI wire format as res_agi.c speaks it: an environment block of "agi_name: value" lines
// ended by an empty line, then one command per line from the script, each answered with
// "200 result=..." (or 510/511/520). Lines end with a bare LF.

export const AGI = {
  /** Unknown command. */
  INVALID: '510 Invalid or unknown command\n',
  /** A command that needs a live channel, sent after hangup. */
  DEAD: '511 Command Not Permitted on a dead channel or intercept routine\n',
  /** Asynchronous notice that the channel hung up (FastAGI only; AGISIGHUP=no suppresses it). */
  HANGUP: 'HANGUP\n',
} as const

/** "520-" usage block for a command called with the wrong arguments. */
export function usage (text: string): string {
  return `520-Invalid command syntax.  Proper usage follows:\n${text}\n520 End of proper usage.\n`
}

/** The FastAGI environment block, in res_agi.c's order, with the empty line that ends it. */
export function envBlock (env: Record<string, string>, args: readonly string[]): string {
  let out = ''
  for (const [k, v] of Object.entries(env)) out += `agi_${k}: ${v.replace(/[\r\n]+/g, ' ')}\n`
  args.forEach((a, i) => { out += `agi_arg_${i + 1}: ${a.replace(/[\r\n]+/g, ' ')}\n` })
  return out + '\n'
}

/**
 * Splits a command line the way res_agi's parse_args does: whitespace separates arguments,
 * double quotes group (and are removed), a backslash escapes the next character.
 */
export function parseArgs (line: string): string[] {
  const out: string[] = []
  let cur = ''
  let inArg = false
  let quoted = false
  let escaped = false
  for (const ch of line) {
    if (escaped) {
      cur += ch
      inArg = true
      escaped = false
    } else if (ch === '\\') {
      escaped = true
    } else if (ch === '"') {
      quoted = !quoted
      inArg = true
    } else if ((ch === ' ' || ch === '\t') && !quoted) {
      if (inArg) out.push(cur)
      cur = ''
      inArg = false
    } else {
      cur += ch
      inArg = true
    }
  }
  if (inArg) out.push(cur)
  return out
}
