// The FastAGI wire format, as res_agi writes and reads it: an environment block of
// `agi_<name>: <value>` lines ended by an empty line, then one command line from us and one
// reply from Asterisk at a time. Pure functions only; agi-connection.ts does the I/O.

/** One parsed reply to an AGI command. */
export interface AgiReply {
  /** 200, 510, 511, 520 (or whatever number Asterisk sent). */
  code: number
  /** `result=` value, when present. */
  result?: string
  /** The text between the first `(` and the last `)` after the result, when present. */
  value?: string
  /** The whole reply as received (all lines for a multi-line 520). */
  raw: string
}

/** Splits `agi_name: value` into [name without prefix, value]; null for anything else. */
export function parseEnvLine (line: string): [string, string] | null {
  const colon = line.indexOf(':')
  if (colon <= 0 || !line.startsWith('agi_')) return null
  const name = line.slice(4, colon)
  // res_agi writes "agi_name: value": one space after the colon, the value as is.
  const value = line[colon + 1] === ' ' ? line.slice(colon + 2) : line.slice(colon + 1)
  return [name, value]
}

const REPLY = /^(\d{3})(?:[ -](.*))?$/

/** Parses a one-line reply such as `200 result=1 (value)` or `511 Command Not Permitted ...`. */
export function parseReplyLine (line: string): AgiReply | null {
  const m = REPLY.exec(line)
  if (!m) return null
  const reply: AgiReply = { code: Number(m[1]), raw: line }
  const rest = m[2] ?? ''
  const r = /^result=(\S*)/.exec(rest)
  if (r) {
    reply.result = r[1]
    const after = rest.slice(r[0].length)
    const open = after.indexOf('(')
    const close = after.lastIndexOf(')')
    if (open !== -1 && close > open) reply.value = after.slice(open + 1, close)
  }
  return reply
}

/** The first line of a multi-line reply (`520-Invalid command syntax.  Proper usage follows:`). */
export function isMultiLineStart (line: string): boolean {
  return /^\d{3}-/.test(line)
}

/** The line that ends a multi-line reply started with `code-`. */
export function isMultiLineEnd (line: string, code: number): boolean {
  return line.startsWith(`${code} `)
}

/**
 * A value as one AGI argument: double-quoted, `\` and `"` escaped (res_agi's parse_args
 * unescapes both). Newlines would end the command, so they are refused.
 */
export function quote (value: string): string {
  if (/[\r\n]/.test(value)) throw new TypeError('an AGI argument cannot contain a newline')
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`
}

/** A channel variable name the dialplan can use (letters, digits, underscore). */
export function isVarName (name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]{0,79}$/.test(name)
}
