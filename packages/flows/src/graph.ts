import type { FlowNode } from './schema.ts'

/** One edge of the flow graph: the field that holds it (a JSON pointer below the node) and its target. */
export interface NodeRef { path: string, target: string }

function entries (path: string, map: Record<string, string | undefined> | undefined): NodeRef[] {
  if (map === undefined) return []
  return Object.entries(map).filter(([, t]) => t !== undefined).map(([k, t]) => ({ path: `${path}/${k}`, target: t! }))
}

function one (path: string, target: string | undefined): NodeRef[] {
  return target === undefined ? [] : [{ path, target }]
}

/** Every node id a node can lead to, with the field it is named in. */
export function nodeRefs (node: FlowNode): NodeRef[] {
  switch (node.type) {
    case 'play':
      return [...entries('/digits', node.digits), ...one('/next', node.next)]
    case 'gather':
    case 'menu':
      return [
        ...entries('/branches', node.branches), ...one('/next', node.next),
        ...one('/noInput', node.noInput), ...one('/invalid', node.invalid),
      ]
    case 'dial':
    case 'amd':
      return [...entries('/branches', node.branches), ...one('/next', node.next)]
    case 'record':
    case 'wait':
    case 'set':
      return one('/next', node.next)
    case 'condition':
      return [...node.when.map((w, i) => ({ path: `/when/${i}/next`, target: w.next })), ...one('/else', node.else)]
    case 'http':
      return [...one('/next', node.next), ...one('/onError', node.onError)]
    case 'hangup':
    case 'goto':
      return []
  }
}

/** Nodes the engine resolves within one step, without asking the dialplan to do anything. */
export function isPassThrough (node: FlowNode): boolean {
  return node.type === 'set' || node.type === 'condition' || node.type === 'http'
}
