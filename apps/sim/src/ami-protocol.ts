// The AMI wire format: "Key: Value" lines ending in CRLF, a blank line ends a message.
// Keys are case-insensitive for actions; some headers (Variable) may repeat.

export interface AmiMessage {
  /** Headers in order, as received. */
  headers: Array<[string, string]>
  /** The first value of a header, case-insensitive. */
  get: (key: string) => string | undefined
  /** Every value of a header, case-insensitive. */
  all: (key: string) => string[]
}

const MAX_MESSAGE = 64 * 1024

export function parseMessage (block: string): AmiMessage {
  const headers: Array<[string, string]> = []
  for (const line of block.split(/\r?\n/)) {
    if (line === '') continue
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()])
  }
  return {
    headers,
    get (key) {
      const k = key.toLowerCase()
      for (const [h, v] of headers) if (h.toLowerCase() === k) return v
      return undefined
    },
    all (key) {
      const k = key.toLowerCase()
      return headers.filter(([h]) => h.toLowerCase() === k).map(([, v]) => v)
    },
  }
}

/**
 * Splits a byte stream into messages. Returns false when a message grows beyond the limit
 * (the caller drops the connection, as Asterisk does with an over-long line).
 */
export function createSplitter (onMessage: (m: AmiMessage) => void): (chunk: string) => boolean {
  let buf = ''
  return (chunk) => {
    buf += chunk
    for (;;) {
      const m = /\r?\n\r?\n/.exec(buf)
      if (!m) break
      const block = buf.slice(0, m.index)
      buf = buf.slice(m.index + m[0].length)
      if (block.trim() !== '') onMessage(parseMessage(block))
    }
    return buf.length <= MAX_MESSAGE
  }
}

export type Fields = ReadonlyArray<readonly [string, string | number | undefined]>

/** Encodes headers as one AMI message (skips undefined values, strips CR/LF from values). */
export function encode (fields: Fields): string {
  let out = ''
  for (const [k, v] of fields) {
    if (v === undefined) continue
    out += `${k}: ${String(v).replace(/[\r\n]+/g, ' ')}\r\n`
  }
  return out + '\r\n'
}
