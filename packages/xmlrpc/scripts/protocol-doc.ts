// Renders the method, action and event sections of docs/protocol.md from the protocol
// schemas, so the document cannot drift from packages/protocol.
// Usage: pnpm exec tsx packages/xmlrpc/scripts/protocol-doc.ts   (rewrites the generated part)
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { ActionArgs, EventData, Methods } from '@federate/protocol'

type Schema = {
  type?: string
  const?: unknown
  enum?: unknown[]
  anyOf?: Schema[]
  items?: Schema | Schema[]
  properties?: Record<string, Schema>
  patternProperties?: Record<string, Schema>
  required?: string[]
  description?: string
  [k: string]: unknown
}

export const BEGIN = '<!-- generated:methods:begin (packages/xmlrpc/scripts/protocol-doc.ts) -->'
export const END = '<!-- generated:methods:end -->'

const XMLRPC: Record<string, string> = { object: 'struct', array: 'array', string: 'string', integer: 'int', number: 'double', boolean: 'boolean' }

function limits (s: Schema): string {
  const out: string[] = []
  if (s.minimum !== undefined && s.maximum !== undefined) out.push(`${String(s.minimum)}..${String(s.maximum)}`)
  else if (s.minimum !== undefined) out.push(`≥ ${String(s.minimum)}`)
  else if (s.maximum !== undefined) out.push(`≤ ${String(s.maximum)}`)
  if (s.minLength !== undefined) out.push(`min length ${String(s.minLength)}`)
  if (s.maxLength !== undefined) out.push(`max length ${String(s.maxLength)}`)
  if (s.pattern !== undefined) out.push(`\`${String(s.pattern).replaceAll('|', '\\|')}\``)
  if (s.minItems !== undefined) out.push(`min ${String(s.minItems)} items`)
  if (s.maxItems !== undefined) out.push(`max ${String(s.maxItems)} items`)
  if (s.maxProperties !== undefined) out.push(`max ${String(s.maxProperties)} members`)
  return out.join(', ')
}

/** A one-line type: `string (max length 64)`, `'a' \| 'b'`, `array of struct`. */
export function typeOf (s: Schema): string {
  if (s.enum !== undefined) return s.enum.map((v) => `\`${String(v)}\``).join(' \\| ')
  if (s.const !== undefined) return `\`${String(s.const)}\``
  if (s.anyOf !== undefined) {
    if (s.anyOf.every((x) => x.type === 'object' && x.properties)) return 'struct: the args of `action` (see Actions)'
    return s.anyOf.map(typeOf).join(' or ')
  }
  const lim = limits(s)
  const suffix = lim === '' ? '' : ` (${lim})`
  if (s.type === 'array') {
    const items = Array.isArray(s.items) ? s.items[0] : s.items
    return `array of ${items ? typeOf(items) : 'values'}${suffix}`
  }
  if (s.type === 'object' && s.patternProperties) {
    const [[pattern, value]] = Object.entries(s.patternProperties) as [[string, Schema]]
    return `struct of name \`${pattern}\` → ${typeOf(value)}${suffix}`
  }
  return `${XMLRPC[s.type ?? ''] ?? 'value'}${suffix}`
}

function nestedStruct (s: Schema): Schema | undefined {
  if (s.type === 'object' && s.properties) return s
  if (s.type === 'array' && !Array.isArray(s.items) && s.items?.type === 'object' && s.items.properties) return s.items
  return undefined
}

/** A markdown table of a struct's members, then one for each member that is a struct (or array of). */
export function table (s: Schema): string {
  const entries = Object.entries(s.properties ?? {})
  if (entries.length === 0) return '(empty struct)\n'
  const rows = entries.map(([name, member]) => `| \`${name}\` | ${typeOf(member)} | ${s.required?.includes(name) ? 'yes' : 'no'} |`)
  let out = ['| member | type | required |', '|---|---|---|', ...rows].join('\n') + '\n'
  for (const [name, member] of entries) {
    const inner = nestedStruct(member)
    if (inner !== undefined) out += `\n\`${name}\`${member.type === 'array' ? ' entries' : ''}:\n\n${table(inner)}`
  }
  return out
}

function section (title: string, s: Schema): string {
  if (s.type === 'object' && s.properties) return `${title}: struct\n\n${table(s)}`
  if (s.type === 'array' && !Array.isArray(s.items) && s.items?.type === 'object') return `${title}: array of struct\n\n${table(s.items)}`
  return `${title}: ${typeOf(s)}\n`
}

/** The generated part of docs/protocol.md. */
export function renderProtocolSections (): string {
  const parts: string[] = [BEGIN, '', '## Methods (protocol v1)', '',
    'Each method takes exactly one struct param. Members not listed are refused (-32602).', '']
  for (const [name, m] of Object.entries(Methods)) {
    parts.push(`### \`${name}\``, '', m.help, '', section('Params', m.params as unknown as Schema), section('Result', m.result as unknown as Schema))
  }
  parts.push('## Actions (`call.step` result `args`)', '')
  for (const [name, schema] of Object.entries(ActionArgs)) parts.push(`### \`${name}\``, '', table(schema as unknown as Schema))
  parts.push('## Events (`call.step` param `data`, by `event`)', '')
  for (const [name, schema] of Object.entries(EventData)) parts.push(`### \`${name}\``, '', table(schema as unknown as Schema))
  parts.push(END)
  return parts.join('\n')
}

/** Replaces the generated part of `markdown` (between the markers) with a fresh rendering. */
export function updateDocument (markdown: string): string {
  const start = markdown.indexOf(BEGIN)
  const end = markdown.indexOf(END)
  if (start === -1 || end === -1) throw new Error('docs/protocol.md has lost its generated-section markers')
  return markdown.slice(0, start) + renderProtocolSections() + markdown.slice(end + END.length)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const path = fileURLToPath(new URL('../../../docs/protocol.md', import.meta.url))
  writeFileSync(path, updateDocument(readFileSync(path, 'utf8')))
  console.log(`updated ${path}`)
}
