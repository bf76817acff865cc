import Type from 'typebox'
import { FaultError } from '@federate/protocol'
import type { XmlRpcRegistry } from './registry.ts'

// The introspection methods every XML-RPC server of the "system" family offers, and
// system.multicall (the de-facto spec, xmlrpc-c / Python's MultiCall). Multicall needs the
// dispatcher, so invoke.ts runs it; the entry here gives it its schema, help and signature.

export const MULTICALL = 'system.multicall'

const MethodNameParam = Type.Tuple([Type.String({ maxLength: 128 })])

function lookup (registry: XmlRpcRegistry<any>, name: string) {
  const method = registry.get(name)
  if (method === undefined) throw new FaultError('METHOD_NOT_FOUND', /^[A-Za-z0-9_.:/]{1,128}$/.test(name) ? name : undefined)
  return method
}

export function registerSystemMethods (registry: XmlRpcRegistry<any>): void {
  registry.register('system.listMethods', {
    positional: true,
    params: Type.Tuple([]),
    result: Type.Array(Type.String()),
    signature: [['array']],
    help: 'The names of every method this server offers.',
    handler: () => registry.names(),
  })
  registry.register('system.methodHelp', {
    positional: true,
    params: MethodNameParam,
    result: Type.String(),
    signature: [['string', 'string']],
    help: 'The help text of a method.',
    handler: ([name]) => lookup(registry, name).help,
  })
  registry.register('system.methodSignature', {
    positional: true,
    params: MethodNameParam,
    result: Type.Array(Type.Array(Type.String())),
    signature: [['array', 'string']],
    help: 'The signatures of a method: arrays of XML-RPC type names, the result type first.',
    handler: ([name]) => lookup(registry, name).signature,
  })
  registry.register(MULTICALL, {
    positional: true,
    params: Type.Tuple([Type.Array(Type.Unknown())]),
    result: Type.Array(Type.Unknown()),
    signature: [['array', 'array']],
    help: 'Runs an array of {methodName, params} calls in order; answers an array whose entries are ' +
      '[result] or a {faultCode, faultString} struct. A nested system.multicall is refused.',
    handler: () => {
      throw new Error('system.multicall is dispatched by invoke()')
    },
  })
}
