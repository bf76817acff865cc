import http from 'node:http'
import https from 'node:https'
import { TLSSocket } from 'node:tls'
import type { Socket } from 'node:net'
import { Compile } from 'typebox/compile'
import { FaultError, Methods, type MethodName, type ParamsOf, type ResultOf } from '@federate/protocol'
import { decodeMethodResponse, encodeMethodCall } from './codec.ts'
import { ClientErrorCodes, XmlRpcClientError, XmlRpcFaultError } from './errors.ts'
import { prepareWire } from './wire-value.ts'

// Our own small client on the same codec: the `xmlrpc` package's client has no timeouts and
// no keep-alive control, and cannot tell "never sent" from "maybe sent".

export interface XmlRpcClientOptions {
  /** Full endpoint URL, e.g. http://10.0.0.5:8080/RPC2. */
  url: string
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string
  /** Whole-call deadline (connect + send + answer). Default 10,000 ms. */
  timeoutMs?: number
  /** Deadline for the TCP (and TLS) connection when a new one is needed. Default 3,000 ms. */
  connectTimeoutMs?: number
  /** Your own agent (not closed by close()). Default: a keep-alive agent owned by the client. */
  agent?: http.Agent
  /** Largest response body accepted. Default 16 MiB. */
  maxResponseBytes?: number
  /** Deepest element nesting accepted in a response. Default 64. */
  maxDepth?: number
  /** Check protocol methods' results against their schemas (off by default: a newer server may add fields). */
  validateResults?: boolean
  /** Extra request headers. */
  headers?: Record<string, string>
}

export interface XmlRpcClient {
  /** Calls a protocol v1 method with its one struct param. */
  call<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>>
  /** Calls any one-struct method. */
  call (method: string, params: Record<string, unknown>): Promise<unknown>
  /** Calls a method with positional params (system.*). */
  callPositional (method: string, params: unknown[]): Promise<unknown>
  /** Aborts calls in flight (FED_XMLRPC_CLOSED) and closes the owned agent. Idempotent. */
  close (): Promise<void>
}

const { CONNECT_FAILED, CONNECT_TIMEOUT, TIMEOUT, CONNECTION_LOST, HTTP_STATUS, BAD_RESPONSE, BAD_PARAMS, CLOSED } = ClientErrorCodes

/** Creates a client for one XML-RPC endpoint. */
export function createXmlRpcClient (options: XmlRpcClientOptions): XmlRpcClient {
  const url = new URL(options.url)
  const secure = url.protocol === 'https:'
  if (!secure && url.protocol !== 'http:') throw new TypeError(`unsupported XML-RPC URL protocol ${url.protocol}`)
  const transport = secure ? https : http
  const timeoutMs = options.timeoutMs ?? 10_000
  const connectTimeoutMs = options.connectTimeoutMs ?? 3_000
  const maxResponseBytes = options.maxResponseBytes ?? 16 * 1024 * 1024
  const limits = { maxDepth: options.maxDepth ?? 64 }
  const ownAgent = options.agent === undefined
  // Free sockets are dropped after 30 s, well before Fastify's 72 s keep-alive timeout, which
  // narrows the race where the server closes an idle socket as we write to it.
  const agent = options.agent ?? new transport.Agent({ keepAlive: true, scheduling: 'lifo', timeout: 30_000 })
  const baseHeaders: Record<string, string> = {
    'content-type': 'text/xml; charset=utf-8',
    accept: 'text/xml',
    'user-agent': 'federate-xmlrpc/1',
    ...options.headers,
  }
  if (options.token !== undefined) baseHeaders.authorization = `Bearer ${options.token}`
  const resultCheckers = new Map<string, ReturnType<typeof Compile>>()
  const inflight = new Set<(err: XmlRpcClientError) => void>()
  let closed = false

  function resultChecker (method: string): ReturnType<typeof Compile> | undefined {
    if (options.validateResults !== true || !Object.hasOwn(Methods, method)) return undefined
    let checker = resultCheckers.get(method)
    if (checker === undefined) {
      checker = Compile(Methods[method as MethodName].result)
      resultCheckers.set(method, checker)
    }
    return checker
  }

  function send (method: string, params: unknown[]): Promise<unknown> {
    if (closed) return Promise.reject(new XmlRpcClientError(CLOSED, 'the XML-RPC client is closed', { retryable: false, sentMaybe: false }))
    let body: Buffer
    try {
      body = Buffer.from(encodeMethodCall(method, prepareWire(params) as unknown[]), 'utf8')
    } catch (err) {
      return Promise.reject(new XmlRpcClientError(BAD_PARAMS, `cannot write ${method} params as XML-RPC: ${(err as Error).message}`, { retryable: false, sentMaybe: false, cause: err }))
    }
    return new Promise((resolve, reject) => {
      let connected = false
      let settled = false
      let connectTimer: NodeJS.Timeout | undefined
      const req = transport.request({
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        agent,
        headers: { ...baseHeaders, 'content-length': String(body.length) },
      })

      const fail = (err: XmlRpcClientError): void => {
        if (settled) return
        settled = true
        cleanup()
        req.destroy()
        reject(err)
      }
      const succeed = (value: unknown): void => {
        if (settled) return
        settled = true
        cleanup()
        resolve(value)
      }
      const cleanup = (): void => {
        clearTimeout(deadline)
        clearTimeout(connectTimer)
        inflight.delete(fail)
      }
      const deadline = setTimeout(() => {
        if (connected) fail(new XmlRpcClientError(TIMEOUT, `${method}: no answer within ${timeoutMs} ms`, { retryable: true, sentMaybe: true }))
        else fail(new XmlRpcClientError(CONNECT_TIMEOUT, `${method}: not connected within ${timeoutMs} ms`, { retryable: true, sentMaybe: false }))
      }, timeoutMs)
      inflight.add(fail)

      req.on('socket', (socket: Socket) => {
        if (settled) return
        // A reused keep-alive socket is connected already; a new one is not until (secure)connect.
        if (!socket.connecting) {
          connected = true
          return
        }
        connectTimer = setTimeout(() => {
          fail(new XmlRpcClientError(CONNECT_TIMEOUT, `${method}: not connected to ${url.host} within ${connectTimeoutMs} ms`, { retryable: true, sentMaybe: false }))
        }, connectTimeoutMs)
        socket.once(socket instanceof TLSSocket ? 'secureConnect' : 'connect', () => {
          connected = true
          clearTimeout(connectTimer)
        })
      })

      req.on('error', (err: NodeJS.ErrnoException) => {
        if (!connected) {
          fail(new XmlRpcClientError(CONNECT_FAILED, `${method}: cannot connect to ${url.host}: ${err.code ?? err.message}`, { retryable: true, sentMaybe: false, cause: err }))
        } else {
          fail(new XmlRpcClientError(CONNECTION_LOST, `${method}: connection lost: ${err.code ?? err.message}`, { retryable: true, sentMaybe: true, cause: err }))
        }
      })

      req.on('response', (res: http.IncomingMessage) => {
        const status = res.statusCode ?? 0
        if (status !== 200) {
          res.resume()
          // 4xx: refused before any method ran. 5xx: a gateway may or may not have forwarded it.
          const serverSide = status >= 500
          fail(new XmlRpcClientError(HTTP_STATUS, `${method}: HTTP ${status} from ${url.host}`, {
            retryable: status === 502 || status === 503 || status === 504 || status === 429,
            sentMaybe: serverSide,
            statusCode: status,
          }))
          return
        }
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > maxResponseBytes) {
            fail(new XmlRpcClientError(BAD_RESPONSE, `${method}: response larger than ${maxResponseBytes} bytes`, { retryable: false, sentMaybe: true }))
            return
          }
          chunks.push(chunk)
        })
        res.on('aborted', () => {
          fail(new XmlRpcClientError(CONNECTION_LOST, `${method}: connection lost while reading the answer`, { retryable: true, sentMaybe: true }))
        })
        res.on('error', (err) => {
          fail(new XmlRpcClientError(CONNECTION_LOST, `${method}: connection lost while reading the answer`, { retryable: true, sentMaybe: true, cause: err }))
        })
        res.on('end', () => {
          if (settled) return
          let decoded
          try {
            decoded = decodeMethodResponse(Buffer.concat(chunks, size), limits)
          } catch (err) {
            const detail = err instanceof FaultError ? err.message : String(err)
            fail(new XmlRpcClientError(BAD_RESPONSE, `${method}: unreadable XML-RPC response: ${detail}`, { retryable: false, sentMaybe: true, cause: err }))
            return
          }
          if (!decoded.ok) {
            settled = true
            cleanup()
            reject(new XmlRpcFaultError(decoded.fault))
            return
          }
          const checker = resultChecker(method)
          if (checker !== undefined && !checker.Check(decoded.value)) {
            const first = [...checker.Errors(decoded.value)][0]
            fail(new XmlRpcClientError(BAD_RESPONSE, `${method}: result breaks the protocol schema at ${first?.instancePath || '/'}: ${first?.message ?? ''}`, { retryable: false, sentMaybe: true }))
            return
          }
          succeed(decoded.value)
        })
      })

      req.end(body)
    })
  }

  return {
    call (method: string, params: unknown) {
      return send(method, [params]) as Promise<any>
    },
    callPositional (method, params) {
      return send(method, params)
    },
    async close () {
      if (closed) return
      closed = true
      for (const fail of [...inflight]) fail(new XmlRpcClientError(CLOSED, 'the XML-RPC client was closed during the call', { retryable: true, sentMaybe: true }))
      if (ownAgent) agent.destroy()
    },
  }
}
