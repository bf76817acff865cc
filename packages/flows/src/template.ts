// `${name}` templating. Names follow the variable pattern; an unknown variable renders as ''.
// Each use site decides how a substituted value is escaped or checked, because the same value
// is harmless in a prompt name and dangerous in a dial string (a comma adds Dial options).

const TEMPLATE = /\$\{([^}]*)\}/g
const NAME = /^[A-Za-z0-9_]{1,64}$/

export type Vars = Record<string, string>

/** True when the text contains at least one `${...}`. */
export function isTemplate (text: string): boolean {
  return text.includes('${')
}

/** The names used in a template, and the malformed placeholders (e.g. `${a b}`, an unclosed `${`). */
export function templateNames (text: string): { names: string[], bad: string[] } {
  const names: string[] = []
  const bad: string[] = []
  for (const m of text.matchAll(TEMPLATE)) {
    if (NAME.test(m[1]!)) names.push(m[1]!)
    else bad.push(m[0])
  }
  // An opening `${` left after removing the well-formed placeholders has no closing brace.
  if (text.replace(TEMPLATE, '').includes('${')) bad.push('${')
  return { names, bad }
}

export function lookup (vars: Vars, name: string): string {
  return Object.hasOwn(vars, name) ? vars[name]! : ''
}

/**
 * Renders a template. `escape` maps each substituted value (e.g. encodeURIComponent); it may
 * throw to refuse a value, which the engine turns into the error fallback.
 */
export function render (text: string, vars: Vars, escape: (value: string, name: string) => string = (v) => v): string {
  if (!isTemplate(text)) return text
  return text.replace(TEMPLATE, (whole, name: string) => NAME.test(name) ? escape(lookup(vars, name), name) : whole)
}
