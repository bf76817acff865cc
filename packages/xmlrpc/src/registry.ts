import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { Static, TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { Methods, type MethodName, type ParamsOf, type ResultOf } from '@federate/protocol'
import { XmlRpcRegistryError } from './errors.ts'
import { registerSystemMethods } from './system-methods.ts'

/** What a handler knows about the call besides its params. */
export interface CallContext<Auth = unknown> {
  /** The Fastify request (headers, ip, log bindings, anything a preHandler decorated). */
  request: FastifyRequest
  /** The method being called (for a multicall entry, the entry's method). */
  method: string
  /** What `authenticate(request, method)` returned (undefined without an authenticate option). */
  auth: Auth
  /** The request's logger (carries the request id). */
  log: FastifyBaseLogger
}

/** A method: schemas for its params and result, help text, and the handler. */
export interface MethodDefinition<P extends TSchema, R extends TSchema, Auth = unknown> {
  /** For a protocol method, the schema of its one struct param; for a positional method, of the params array. */
  params: P
  result: R
  help?: string
  /** True: `params` validates the whole params array (system.* style). Default: exactly one param. */
  positional?: boolean
  /** For system.methodSignature, e.g. `[['struct', 'struct']]`; derived from the schemas when omitted. */
  signature?: string[][]
  handler: (params: Static<P>, ctx: CallContext<Auth>) => Static<R> | Promise<Static<R>>
}

interface Validator { Check: (value: unknown) => boolean, Errors: (value: unknown) => Iterable<{ instancePath: string, message: string }> }

/** A registered method, validators compiled once. */
export interface RegisteredMethod {
  readonly name: string
  readonly help: string
  readonly signature: string[][]
  readonly positional: boolean
  readonly params: Validator
  readonly result: Validator
  readonly handler: (params: any, ctx: CallContext<any>) => unknown
}

const NAME = /^[A-Za-z0-9_.:/]{1,128}$/

// XML-RPC type names for methodSignature, from a schema's JSON Schema `type`.
function xmlRpcType (schema: TSchema): string {
  const type = (schema as { type?: unknown }).type
  switch (type) {
    case 'object': return 'struct'
    case 'array': return 'array'
    case 'string': return 'string'
    case 'integer': return 'int'
    case 'number': return 'double'
    case 'boolean': return 'boolean'
    case 'null': return 'nil'
    default: return 'undef'
  }
}

function deriveSignature (params: TSchema, result: TSchema, positional: boolean): string[][] {
  if (!positional) return [[xmlRpcType(result), xmlRpcType(params)]]
  // typebox writes a tuple as `items: [...]` (draft 7 style).
  const items = (params as { items?: unknown }).items
  return [[xmlRpcType(result), ...(Array.isArray(items) ? items.map(xmlRpcType) : [])]]
}

/** The methods one XML-RPC endpoint serves. system.* built-ins are registered from the start. */
export class XmlRpcRegistry<Auth = unknown> {
  readonly #methods = new Map<string, RegisteredMethod>()

  constructor () {
    registerSystemMethods(this)
  }

  /** Registers a method; its validators are compiled now, once. */
  register<P extends TSchema, R extends TSchema> (name: string, def: MethodDefinition<P, R, Auth>): this {
    if (!NAME.test(name)) throw new XmlRpcRegistryError(`invalid XML-RPC method name '${name}'`)
    if (this.#methods.has(name)) throw new XmlRpcRegistryError(`method '${name}' is already registered`)
    const positional = def.positional === true
    this.#methods.set(name, {
      name,
      help: def.help ?? '',
      signature: def.signature ?? deriveSignature(def.params, def.result, positional),
      positional,
      params: Compile(def.params) as Validator,
      result: Compile(def.result) as Validator,
      handler: def.handler,
    })
    return this
  }

  /** Registers a protocol v1 method by name: params, result and help come from `Methods`. */
  implement<M extends MethodName> (name: M, handler: (params: ParamsOf<M>, ctx: CallContext<Auth>) => ResultOf<M> | Promise<ResultOf<M>>): this {
    const spec = Methods[name]
    if (spec === undefined) throw new XmlRpcRegistryError(`'${name}' is not a protocol method`)
    return this.register(name, {
      params: spec.params as TSchema,
      result: spec.result as TSchema,
      help: spec.help,
      handler: handler as (params: unknown, ctx: CallContext<Auth>) => unknown,
    })
  }

  /** The method registered under `name`, if any. */
  get (name: string): RegisteredMethod | undefined {
    return this.#methods.get(name)
  }

  /** Every registered method name, sorted. */
  names (): string[] {
    return [...this.#methods.keys()].sort()
  }
}

/** Creates a registry (with system.* built in). `Auth` is what the plugin's `authenticate` returns. */
export function createXmlRpcRegistry<Auth = unknown> (): XmlRpcRegistry<Auth> {
  return new XmlRpcRegistry<Auth>()
}
