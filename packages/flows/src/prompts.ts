import type { Flow } from './schema.ts'
import { isTemplate } from './template.ts'

// Prompt names become file paths on every instance (sounds/<name>.<ext>) and S3 keys: only
// [A-Za-z0-9_/-], relative, no empty segments. Dots are not allowed at all, so `..` cannot occur.
const SAFE_PROMPT = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/

/** True for a prompt name that is safe as a relative file name. */
export function isSafePromptName (name: string): boolean {
  return name.length <= 255 && SAFE_PROMPT.test(name)
}

/** Every prompt a node may play, templates included, with the field (JSON pointer) naming it. */
export function nodePrompts (node: Flow['nodes'][string]): Array<{ path: string, name: string }> {
  if (node.type !== 'play' && node.type !== 'gather' && node.type !== 'menu') return []
  const out = node.prompts.map((name, i) => ({ path: `/prompts/${i}`, name }))
  if (node.type !== 'play') {
    if (node.invalidPrompt !== undefined) out.push({ path: '/invalidPrompt', name: node.invalidPrompt })
    if (node.noInputPrompt !== undefined) out.push({ path: '/noInputPrompt', name: node.noInputPrompt })
  }
  return out
}

/**
 * Every prompt name the flow can play, sorted and unique: the storage manager checks that each
 * exists. Templated names (`${lang}/welcome`) are known only at call time and are left out.
 */
export function promptsOf (flow: Flow): string[] {
  const names = new Set<string>()
  for (const node of Object.values(flow.nodes)) {
    for (const { name } of nodePrompts(node)) if (!isTemplate(name)) names.add(name)
  }
  return [...names].sort()
}
