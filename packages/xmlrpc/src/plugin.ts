import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { FaultError, type FaultStruct } from '@federate/protocol'
import { decodeMethodCall, encodeFault, encodeMethodResponse, type DecodedCall } from './codec.ts'
import { invoke, UNKNOWN_METHOD, type InvokeOptions, type OnCall, type Outcome } from './invoke.ts'
import type { CallContext, XmlRpcRegistry } from './registry.ts'
import { xmlSafe } from './wire-value.ts'

export interface XmlRpcPluginOptions<Auth = unknown> {
  /** The methods to serve (see createXmlRpcRegistry). */
  registry: XmlRpcRegistry<Auth>
  /** Route path. Default `/RPC2`. */
  path?: string
  /** Largest request body in bytes; larger gets HTTP 413. Default 1 MiB. */
  bodyLimit?: number
  /** Deepest element nesting accepted in a request. Default 64. */
  maxDepth?: number
  /** Most entries in one system.multicall. Default 100. */
  maxMulticall?: number
  /** Deepest value nesting a method may answer. Default 32. */
  maxResultDepth?: number
  /**
   * Runs before every call (once per HTTP request, with the top-level method name); its
   * return value becomes `ctx.auth`. Throw a FaultError (UNAUTHORIZED, FORBIDDEN) to refuse.
   */
  authenticate?: (request: FastifyRequest, method: string) => Auth | Promise<Auth>
  /** Called after each call (and each multicall entry) with its duration and fault code, if any. */
  onCall?: OnCall
}

export const XML_CONTENT_TYPE = 'text/xml; charset=utf-8'
/** The onCall label of a request that did not decode into a call. */
export const INVALID_CALL = '(invalid)'

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i
const UTF8 = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii'])

function faultOutcome (err: FaultError): Outcome {
  return { ok: false, fault: { faultCode: err.faultCode, faultString: xmlSafe(err.message) } }
}

async function xmlrpc (fastify: FastifyInstance, opts: XmlRpcPluginOptions<unknown>): Promise<void> {
  const { registry, authenticate, path = '/RPC2', bodyLimit = 1024 * 1024 } = opts
  const limits = { maxDepth: opts.maxDepth ?? 64 }
  const invokeOptions: InvokeOptions = {
    onCall: opts.onCall,
    maxMulticall: opts.maxMulticall ?? 100,
    maxResultDepth: opts.maxResultDepth ?? 32,
  }

  function measured (label: string, started: number, outcome: Outcome & { ok: false }, log: FastifyRequest['log']): Outcome {
    if (invokeOptions.onCall !== undefined) {
      try {
        invokeOptions.onCall(label, performance.now() - started, outcome.fault.faultCode)
      } catch (err) {
        log.warn({ err }, 'xmlrpc onCall hook threw')
      }
    }
    return outcome
  }

  async function answer (request: FastifyRequest): Promise<Outcome> {
    const started = performance.now()
    let call: DecodedCall
    try {
      const charset = CHARSET.exec(request.headers['content-type'] ?? '')
      if (charset !== null && !UTF8.has(charset[1]!.toLowerCase())) {
        throw new FaultError('UNSUPPORTED_ENCODING', `only UTF-8 is accepted, not ${charset[1]!.slice(0, 40)}`)
      }
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
      call = decodeMethodCall(body, limits)
    } catch (err) {
      if (!(err instanceof FaultError)) throw err
      request.log.debug({ err }, 'xmlrpc request refused')
      return measured(INVALID_CALL, started, faultOutcome(err) as Outcome & { ok: false }, request.log)
    }

    let auth: unknown
    if (authenticate !== undefined) {
      try {
        auth = await authenticate(request, call.method)
      } catch (err) {
        const label = registry.get(call.method) === undefined ? UNKNOWN_METHOD : call.method
        if (err instanceof FaultError) return measured(label, started, faultOutcome(err) as Outcome & { ok: false }, request.log)
        request.log.error({ err }, 'xmlrpc authenticate hook failed')
        return measured(label, started, faultOutcome(new FaultError('INTERNAL_ERROR')) as Outcome & { ok: false }, request.log)
      }
    }
    const ctx: CallContext<unknown> = { request, method: call.method, auth, log: request.log }
    return await invoke(registry, call.method, call.params, ctx, invokeOptions)
  }

  async function handle (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const outcome = await answer(request)
    let xml: string
    if (outcome.ok) {
      try {
        xml = encodeMethodResponse(outcome.value)
      } catch (err) {
        // prepareWire should have caught it; the serializer is the last line.
        request.log.error({ err }, 'xmlrpc response could not be serialized')
        xml = encodeFault(internalFault)
      }
    } else {
      xml = encodeFault(outcome.fault)
    }
    // Faults travel with HTTP 200, as the XML-RPC spec says.
    return reply.code(200).header('content-type', XML_CONTENT_TYPE).send(xml)
  }

  // Encapsulated: the XML parsers and the 415 for every other type apply to this route only.
  await fastify.register(async (scope) => {
    scope.removeAllContentTypeParsers()
    // parseAs 'buffer' makes Fastify enforce bodyLimit (413 from Content-Length or while reading).
    scope.addContentTypeParser(['text/xml', 'application/xml'], { parseAs: 'buffer', bodyLimit }, (_request, body, done) => {
      done(null, body)
    })
    scope.post(path, { bodyLimit }, handle)
  })
}

const internalFault: FaultStruct = new FaultError('INTERNAL_ERROR').toStruct()

/**
 * Serves XML-RPC on POST `path` (default /RPC2) for the methods of `opts.registry`,
 * hardened: body limit, no DTD, depth limit, strict types, validated params and results.
 */
export const xmlrpcPlugin = fp(xmlrpc, { name: '@federate/xmlrpc', fastify: '5.x' })
