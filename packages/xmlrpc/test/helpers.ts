import Type from 'typebox'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { FaultError } from '@federate/protocol'
import { createXmlRpcRegistry, decodeMethodResponse, xmlrpcPlugin, type XmlRpcPluginOptions, type XmlRpcRegistry } from '../src/index.ts'

type Auth = { instanceId: string } | undefined

/** Builds the XML text of a method call by hand (for inputs no serializer would write). */
export function callXml (method: string, paramsXml = ''): string {
  return `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${paramsXml}</params></methodCall>`
}

/** A `<param>` holding one struct with the given members (already XML values). */
export function structParam (members: Record<string, string>): string {
  const body = Object.entries(members).map(([k, v]) => `<member><name>${k}</name><value>${v}</value></member>`).join('')
  return `<param><value><struct>${body}</struct></value></param>`
}

export interface TestApp {
  app: FastifyInstance
  calls: Array<{ method: string, durationMs: number, faultCode?: number | undefined }>
  /** Every log line the app wrote (parsed JSON). */
  logs: Array<Record<string, any>>
}

/** A Fastify app serving test methods and two protocol methods. Close it in t.after. */
export async function buildApp (
  opts: Partial<XmlRpcPluginOptions<Auth>> = {},
  extra: (registry: XmlRpcRegistry<Auth>) => void = () => {}
): Promise<TestApp> {
  const calls: TestApp['calls'] = []
  const logs: TestApp['logs'] = []
  const registry = createXmlRpcRegistry<Auth>()
  const Any = Type.Array(Type.Unknown())
  registry
    .register('echo', { positional: true, params: Any, result: Type.Unknown(), help: 'Answers its first param.', handler: (p) => p[0] ?? null })
    .register('add', {
      positional: true,
      params: Type.Tuple([Type.Integer(), Type.Integer()]),
      result: Type.Integer(),
      help: 'Adds two ints.',
      handler: ([a, b]) => a + b,
    })
    .register('fail', { positional: true, params: Any, result: Type.Unknown(), handler: () => { throw new FaultError('NOT_FOUND', 'no such thing') } })
    .register('boom', { positional: true, params: Any, result: Type.Unknown(), handler: () => { throw new Error('secret detail at /srv/app.ts:42') } })
    .register('nan', { positional: true, params: Any, result: Type.Unknown(), handler: () => NaN })
    .register('big', { positional: true, params: Any, result: Type.Unknown(), handler: () => 2 ** 31 })
    .register('bigint', { positional: true, params: Any, result: Type.Unknown(), handler: () => 10n })
    .register('error.object', { positional: true, params: Any, result: Type.Unknown(), handler: () => new Error('x') })
    .register('control', { positional: true, params: Any, result: Type.Unknown(), handler: () => 'bell\u0007' })
    .register('cycle', {
      positional: true,
      params: Any,
      result: Type.Unknown(),
      handler: () => { const a: Record<string, unknown> = {}; a.self = a; return a },
    })
    .register('prototypes', {
      positional: true,
      params: Any,
      result: Type.Unknown(),
      handler: (p) => {
        const s = p[0] as object
        return {
          nullPrototype: Object.getPrototypeOf(s) === null,
          ownProto: Object.hasOwn(s, '__proto__'),
          polluted: ({} as Record<string, unknown>).polluted !== undefined,
        }
      },
    })
    .register('whoami', { positional: true, params: Any, result: Type.String(), handler: (_p, ctx) => ctx.auth?.instanceId ?? 'nobody' })
    .implement('call.end', (params) => ({ ok: params.billSec <= params.durationSec }))
    .implement('instance.heartbeat', () => ({ commands: ['drain'], manifestVersion: -5 }))
  extra(registry)
  const stream = new Writable({
    write (chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') logs.push(JSON.parse(line))
      done()
    },
  })
  const app = Fastify({ logger: { level: 'warn', stream } })
  await app.register(xmlrpcPlugin, {
    registry,
    onCall: (method, durationMs, faultCode) => { calls.push({ method, durationMs, faultCode }) },
    ...opts,
  })
  await app.ready()
  return { app, calls, logs }
}

/** Posts `body` to /RPC2 through inject and decodes the answer (asserting it is XML-RPC). */
export async function rpc (app: FastifyInstance, body: string | Buffer, headers: Record<string, string> = {}) {
  const started = performance.now()
  const res = await app.inject({ method: 'POST', url: '/RPC2', headers: { 'content-type': 'text/xml', ...headers }, payload: body })
  const ms = performance.now() - started
  if (res.statusCode !== 200) return { status: res.statusCode, ms, body: res.body, decoded: undefined }
  return { status: res.statusCode, ms, body: res.body, decoded: decodeMethodResponse(res.rawPayload, { maxDepth: 64 }), contentType: res.headers['content-type'] }
}

/** The fault code of an rpc() answer, or undefined when it is a result. */
export function faultOf (r: Awaited<ReturnType<typeof rpc>>): number | undefined {
  if (r.decoded === undefined) throw new Error(`HTTP ${r.status}: ${r.body.slice(0, 200)}`)
  return r.decoded.ok ? undefined : r.decoded.fault.faultCode
}

/** A JSON-comparable copy (null-prototype structs become plain objects). */
export function plain (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(plain)
  if (value !== null && typeof value === 'object' && !(value instanceof Date) && !Buffer.isBuffer(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]))
  }
  return value
}
