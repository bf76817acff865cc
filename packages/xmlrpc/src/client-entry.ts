// The client alone, as `@federate/xmlrpc/client`: no Fastify, so an agent starts quickly.
export { createXmlRpcClient } from './client.ts'
export type { XmlRpcClient, XmlRpcClientOptions } from './client.ts'
export { ClientErrorCodes, XmlRpcClientError, XmlRpcFaultError } from './errors.ts'
export type { ClientErrorCode } from './errors.ts'
