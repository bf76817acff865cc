import Type from 'typebox'
import { Compile } from 'typebox/compile'
import { CALLER_ID, DIAL_TO, EXTENSION } from './dial-string.ts'
import { isPassThrough, nodeRefs } from './graph.ts'
import { isSafePromptName, nodePrompts } from './prompts.ts'
import { regexProblem } from './regex.ts'
import {
  FLOW_FORMAT, MAX_NODES, NODE_ID_PATTERN, NODE_TYPES, NodeSchemas,
  type Flow, type FlowNode, type NodeType,
} from './schema.ts'
import { templateNames } from './template.ts'

/** One problem found in a flow: the node it concerns (if any), a JSON pointer and a sentence. */
export interface FlowIssue { node?: string, path: string, message: string }

export type ValidationResult =
  | { ok: true, flow: Flow, warnings: FlowIssue[] }
  | { ok: false, errors: FlowIssue[], warnings: FlowIssue[] }

/** Largest accepted document, as JSON text. */
export const MAX_FLOW_BYTES = 256 * 1024

// The document minus its nodes: each node is then checked against its own type's schema, so an
// error names the node and its field instead of listing every member of a union.
const Envelope = Compile(Type.Object({
  $schema: Type.Optional(Type.String({ maxLength: 2048 })),
  format: Type.Literal(FLOW_FORMAT),
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(Type.String({ maxLength: 2000 })),
  start: Type.String({ pattern: NODE_ID_PATTERN }),
  nodes: Type.Record(Type.String(), Type.Unknown(), { minProperties: 1 }),
}, { additionalProperties: false }))

const nodeCheckers = Object.fromEntries(
  Object.entries(NodeSchemas).map(([type, schema]) => [type, Compile(schema)])
) as unknown as Record<NodeType, ReturnType<typeof Compile>>

const NODE_ID = new RegExp(NODE_ID_PATTERN)
const pointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1')
const q = (s: string) => `'${s}'`

interface SchemaError { instancePath: string, keyword: string, message: string }

// TypeBox reports an unknown field twice (keyword `boolean` at the field, `additionalProperties`
// at its parent): keep the first, which says where it is.
function schemaIssues (errors: Iterable<SchemaError>, base: string, node?: string): FlowIssue[] {
  const out: FlowIssue[] = []
  for (const e of errors) {
    if (e.keyword === 'additionalProperties') continue
    const message = e.keyword === 'boolean' ? 'is not an allowed field' : e.message
    const where = e.instancePath === '' ? (node === undefined ? 'document' : 'node') : e.instancePath
    out.push({
      ...(node === undefined ? {} : { node }),
      path: base + e.instancePath,
      message: node === undefined ? `${where} ${message}` : `node ${q(node)}: ${where} ${message}`,
    })
  }
  return out
}

/**
 * Checks a flow document (parsed JSON or its text): the schema, every reference, prompt names,
 * regular expressions, templates, limits, and loops the engine could never leave. Unreachable
 * nodes are warnings. On success the document is returned typed as a Flow.
 */
export function validateFlow (doc: unknown): ValidationResult {
  const warnings: FlowIssue[] = []
  const fail = (errors: FlowIssue[]): ValidationResult => ({ ok: false, errors, warnings })

  let size: number
  if (typeof doc === 'string') {
    size = Buffer.byteLength(doc)
    if (size > MAX_FLOW_BYTES) return fail([{ path: '', message: `document is ${size} bytes, more than the limit of ${MAX_FLOW_BYTES}` }])
    try {
      doc = JSON.parse(doc)
    } catch (err) {
      return fail([{ path: '', message: `document is not JSON: ${(err as Error).message}` }])
    }
  } else {
    try {
      size = Buffer.byteLength(JSON.stringify(doc) ?? '')
    } catch (err) {
      return fail([{ path: '', message: `document cannot be written as JSON: ${(err as Error).message}` }])
    }
    if (size > MAX_FLOW_BYTES) return fail([{ path: '', message: `document is ${size} bytes, more than the limit of ${MAX_FLOW_BYTES}` }])
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return fail([{ path: '', message: 'document must be a JSON object' }])
  if (!Envelope.Check(doc)) return fail(schemaIssues(Envelope.Errors(doc) as Iterable<SchemaError>, ''))

  // Shape of each node.
  const raw = doc as { start: string, nodes: Record<string, unknown> }
  const ids = Object.keys(raw.nodes)
  if (ids.length > MAX_NODES) return fail([{ path: '/nodes', message: `flow has ${ids.length} nodes, more than the limit of ${MAX_NODES}` }])
  const errors: FlowIssue[] = []
  for (const id of ids) {
    const base = `/nodes/${pointer(id)}`
    if (!NODE_ID.test(id)) {
      errors.push({ node: id, path: base, message: `node ${q(id)}: id must match ${NODE_ID_PATTERN}` })
      continue
    }
    const node = raw.nodes[id] as { type?: unknown } | null
    if (typeof node !== 'object' || node === null || Array.isArray(node)) {
      errors.push({ node: id, path: base, message: `node ${q(id)}: must be an object` })
      continue
    }
    if (typeof node.type !== 'string' || !Object.hasOwn(nodeCheckers, node.type)) {
      errors.push({ node: id, path: `${base}/type`, message: `node ${q(id)}: unknown type ${JSON.stringify(node.type)} (one of ${NODE_TYPES.join(', ')})` })
      continue
    }
    const checker = nodeCheckers[node.type as NodeType]
    if (!checker.Check(node)) errors.push(...schemaIssues(checker.Errors(node) as Iterable<SchemaError>, base, id))
  }
  if (errors.length > 0) return fail(errors)

  const flow = doc as Flow
  const has = (id: string) => Object.hasOwn(flow.nodes, id)
  if (!has(flow.start)) errors.push({ path: '/start', message: `start points to missing node ${q(flow.start)}` })

  for (const [id, node] of Object.entries(flow.nodes)) {
    const base = `/nodes/${id}`
    const err = (path: string, message: string) => errors.push({ node: id, path: base + path, message: `node ${q(id)}: ${message}` })
    for (const ref of nodeRefs(node)) {
      if (!has(ref.target)) err(ref.path, `${ref.path.slice(1)} points to missing node ${q(ref.target)}`)
    }
    checkNode(node, err)
  }

  errors.push(...loopIssues(flow))
  if (errors.length > 0) return fail(errors)

  // Reachability from start (a warning: a draft may hold nodes not wired in yet).
  const seen = new Set([flow.start])
  const queue = [flow.start]
  while (queue.length > 0) {
    for (const ref of nodeRefs(flow.nodes[queue.pop()!]!)) {
      if (!seen.has(ref.target)) { seen.add(ref.target); queue.push(ref.target) }
    }
  }
  for (const id of ids) {
    if (!seen.has(id)) warnings.push({ node: id, path: `/nodes/${id}`, message: `node ${q(id)}: is unreachable from start ${q(flow.start)}` })
  }
  return { ok: true, flow, warnings }
}

type Report = (path: string, message: string) => void

// Literal parts of a template checked against a pattern, with each placeholder standing in as `0`.
function literalCheck (text: string, pattern: RegExp): boolean {
  return pattern.test(text.replace(/\$\{[A-Za-z0-9_]{1,64}\}/g, '0'))
}

function checkTemplate (path: string, text: string, err: Report): boolean {
  const { bad } = templateNames(text)
  if (bad.length > 0) err(path, `${path.slice(1)} has a malformed placeholder ${bad[0]} (use \${name} with [A-Za-z0-9_])`)
  return bad.length === 0
}

function checkNode (node: FlowNode, err: Report): void {
  // Prompt names (templates allowed; the rendered name is checked again at call time).
  for (const { path, name } of nodePrompts(node)) {
    if (!checkTemplate(path, name, err)) continue
    if (!isSafePromptName(name.replace(/\$\{[A-Za-z0-9_]{1,64}\}/g, 'x'))) {
      err(path, `prompt ${q(name)} is not a safe file name (only A-Z a-z 0-9 _ - and /, relative, no '..' or empty segment)`)
    }
  }

  switch (node.type) {
    case 'play': {
      if (node.digits !== undefined && node.escapeDigits !== undefined) {
        for (const d of Object.keys(node.digits)) {
          if (!node.escapeDigits.includes(d)) err(`/digits/${d}`, `digit ${q(d)} can never be pressed: it is not in escapeDigits ${q(node.escapeDigits)}`)
        }
      }
      break
    }
    case 'gather':
    case 'menu': {
      if (node.branches === undefined && node.next === undefined) err('', 'a gather needs branches, next, or both')
      if (typeof node.validDigits === 'string') {
        const problem = regexProblem(node.validDigits)
        if (problem !== undefined) err('/validDigits', `validDigits ${problem}`)
      }
      for (const key of Object.keys(node.branches ?? {})) {
        if (node.maxDigits !== undefined && key.length > node.maxDigits) {
          err(`/branches/${key}`, `branch ${q(key)} is longer than maxDigits ${node.maxDigits} and can never be chosen`)
        }
        if (Array.isArray(node.validDigits) && !node.validDigits.includes(key)) {
          err(`/branches/${key}`, `branch ${q(key)} is not one of validDigits and can never be chosen`)
        }
        if (node.finishKey !== undefined && node.finishKey !== '' && key.includes(node.finishKey)) {
          err(`/branches/${key}`, `branch ${q(key)} contains the finish key ${q(node.finishKey)} and can never be chosen`)
        }
      }
      break
    }
    case 'dial':
      if (checkTemplate('/to', node.to, err) && !literalCheck(node.to, DIAL_TO)) {
        err('/to', `to ${q(node.to)} may only contain A-Z a-z 0-9 + * # . _ @ : / & - (no commas or spaces)`)
      }
      if (node.callerId !== undefined && checkTemplate('/callerId', node.callerId, err) && !literalCheck(node.callerId, CALLER_ID)) {
        err('/callerId', `callerId ${q(node.callerId)} has characters a dialplan argument cannot carry (commas, |, ; or control characters)`)
      }
      break
    case 'set':
      for (const [name, value] of Object.entries(node.vars)) checkTemplate(`/vars/${name}`, value, err)
      break
    case 'condition':
      node.when.forEach((w, i) => {
        const path = `/when/${i}/value`
        const values = Array.isArray(w.value) ? w.value : [w.value]
        for (const v of values) if (typeof v === 'string') checkTemplate(path, v, err)
        if (w.op === 'in' && !Array.isArray(w.value)) err(path, 'operator \'in\' needs a list of values')
        if (w.op !== 'in' && Array.isArray(w.value)) err(path, `operator ${q(w.op)} needs a single value, not a list`)
        if ((w.op === 'lt' || w.op === 'gt') && !Array.isArray(w.value) && typeof w.value === 'string' && !w.value.includes('${') && !Number.isFinite(Number(w.value))) {
          err(path, `operator ${q(w.op)} compares numbers; ${JSON.stringify(w.value)} is not a number`)
        }
        if (w.op === 'matches') {
          if (typeof w.value !== 'string') err(path, 'operator \'matches\' needs a regular expression string')
          else {
            const problem = regexProblem(w.value)
            if (problem !== undefined) err(path, `value ${problem}`)
          }
        }
      })
      break
    case 'http':
      // The host is literal so that the allow-list check cannot be steered by a variable.
      if (checkTemplate('/url', node.url, err) && !/^https?:\/\/[^/?#$\s]+(?:[/?#]|$)/i.test(node.url)) {
        err('/url', `url ${q(node.url)} must start with http:// or https:// and a literal host (variables only after the host)`)
      }
      for (const [name, value] of Object.entries(node.body ?? {})) checkTemplate(`/body/${name}`, value, err)
      break
    case 'goto':
      if (checkTemplate('/extension', node.extension, err) && !literalCheck(node.extension, EXTENSION)) {
        err('/extension', `extension ${q(node.extension)} may only contain A-Z a-z 0-9 _ + * # . -`)
      }
      break
    default:
      break
  }
}

// A cycle made only of nodes the engine passes through within one step (set, condition, http)
// would never give the caller a turn: Tarjan's strongly connected components over those nodes.
function loopIssues (flow: Flow): FlowIssue[] {
  const ids = Object.keys(flow.nodes).filter((id) => isPassThrough(flow.nodes[id]!))
  const inSub = new Set(ids)
  const edges = (id: string) => nodeRefs(flow.nodes[id]!).map((r) => r.target).filter((t) => inSub.has(t))
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const onStack = new Set<string>()
  const stack: string[] = []
  const issues: FlowIssue[] = []
  let counter = 0

  const visit = (v: string): void => {
    index.set(v, counter); low.set(v, counter); counter++
    stack.push(v); onStack.add(v)
    for (const w of edges(v)) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)) } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = []
      let w: string
      do { w = stack.pop()!; onStack.delete(w); scc.push(w) } while (w !== v)
      if (scc.length > 1 || edges(v).includes(v)) {
        const cycle = scc.reverse()
        issues.push({
          node: cycle[0]!,
          path: `/nodes/${cycle[0]}`,
          message: `node ${q(cycle[0]!)}: loop without caller interaction (${[...cycle, cycle[0]].join(' -> ')}) would never end; put a play, gather or wait in it`,
        })
      }
    }
  }
  for (const id of ids) if (!index.has(id)) visit(id)
  return issues
}
