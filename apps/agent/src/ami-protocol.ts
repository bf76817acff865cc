// The Asterisk Manager Interface wire format: after a one-line banner
// (`Asterisk Call Manager/<version>`), messages of `Key: Value` lines ended by an empty line,
// CRLF line ends (a bare LF is accepted too). Pure functions; ami-client.ts does the I/O.

/** One AMI message; keys are looked up case-insensitively, the first of repeated keys wins. */
export class AmiMessage {
  readonly fields = new Map<string, string>()
  /** Every line in order, for keys that repeat (ChanVariable, Variable). */
  readonly lines: Array<[string, string]> = []

  get (key: string): string | undefined {
    return this.fields.get(key.toLowerCase())
  }

  add (key: string, value: string): void {
    this.lines.push([key, value])
    const k = key.toLowerCase()
    if (!this.fields.has(k)) this.fields.set(k, value)
  }

  toObject (): Record<string, string> {
    return Object.fromEntries(this.lines)
  }
}

/** Incremental parser: feed chunks, get whole messages (and the banner once). */
export class AmiParser {
  private buffer = ''
  private current: AmiMessage | null = null
  banner: string | null = null

  /** Parses what it can; returns the messages completed by this chunk. */
  push (chunk: string): AmiMessage[] {
    this.buffer += chunk
    const out: AmiMessage[] = []
    let nl: number
    while ((nl = this.buffer.indexOf('\n')) !== -1) {
      let line = this.buffer.slice(0, nl)
      this.buffer = this.buffer.slice(nl + 1)
      if (line.endsWith('\r')) line = line.slice(0, -1)
      if (this.banner === null) {
        this.banner = line
        continue
      }
      if (line === '') {
        if (this.current) out.push(this.current)
        this.current = null
        continue
      }
      const colon = line.indexOf(':')
      this.current ??= new AmiMessage()
      if (colon === -1) this.current.add(line, '')
      else this.current.add(line.slice(0, colon).trim(), line.slice(colon + 1).replace(/^ /, ''))
    }
    return out
  }

  /** Bytes waiting for a line end (a peer that never ends a line is cut off by the client). */
  get pendingBytes (): number {
    return this.buffer.length
  }
}

export type ActionFields = Record<string, string | number | boolean | ReadonlyArray<string> | undefined>

/** Writes an action; array values become repeated headers (`Variable: A=1` twice...). */
export function formatAction (fields: ActionFields): string {
  let out = ''
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue
    const values = Array.isArray(value) ? value : [String(value)]
    for (const v of values) {
      if (/[\r\n]/.test(v)) throw new TypeError(`AMI header ${key} cannot contain a line break`)
      out += `${key}: ${v}\r\n`
    }
  }
  return out + '\r\n'
}
