// Regular expressions written by operators (gather.validDigits, condition `matches`).
// They run against at most a few hundred characters, but a nested quantifier such as (1+)+
// backtracks exponentially on a near-miss, so the validator refuses that shape outright.

const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*[*+}](?:[^()\\]|\\.)*\)\s*[*+{]/
const cache = new Map<string, RegExp>()

/** Why a pattern is refused, or undefined when it compiles and looks safe. */
export function regexProblem (pattern: string): string | undefined {
  try {
    // eslint-disable-next-line no-new
    new RegExp(pattern)
  } catch (err) {
    return `is not a valid regular expression (${(err as Error).message})`
  }
  if (NESTED_QUANTIFIER.test(pattern)) return 'has a nested quantifier that can backtrack catastrophically'
  if (/\\[1-9]/.test(pattern)) return 'uses a back-reference'
  return undefined
}

/**
 * The pattern compiled once; `whole` anchors it to the entire input (gather choices), otherwise
 * it matches anywhere like RegExp#test (condition `matches`). Throws on a bad pattern.
 */
export function compilePattern (pattern: string, whole: boolean): RegExp {
  const source = whole ? `^(?:${pattern})$` : pattern
  let re = cache.get(source)
  if (re === undefined) {
    re = new RegExp(source)
    if (cache.size >= 1000) cache.clear()
    cache.set(source, re)
  }
  return re
}
