import type { FastifySchemaValidationError } from 'fastify'

// Fastify's default message for a refused body lists Ajv's raw errors: "body must NOT have
// additional properties" (which one?), or "must be equal to constant" three times for a union
// of literals. Operators read these messages in a terminal; they should name the field and say
// what would be accepted.

const q = (v: unknown) => typeof v === 'string' ? `'${v}'` : JSON.stringify(v)

/** One sentence per problem: the field (`body/role`), and what is wrong with it. */
export function describeSchemaErrors (errors: readonly FastifySchemaValidationError[], dataVar: string): string {
  const out: string[] = []
  const literals = new Map<string, unknown[]>()
  for (const e of errors) {
    const where = `${dataVar}${e.instancePath}`
    const params = e.params as Record<string, unknown>
    if (e.keyword === 'const') {
      const list = literals.get(where) ?? []
      list.push(params.allowedValue)
      literals.set(where, list)
    } else if (e.keyword === 'anyOf' && literals.has(where)) {
      out.push(`${where} must be one of ${literals.get(where)!.map(q).join(', ')}`)
      literals.delete(where)
    } else if (e.keyword === 'additionalProperties') {
      out.push(`${where} has an unknown field ${q(params.additionalProperty)}`)
    } else if (e.keyword === 'enum' && Array.isArray(params.allowedValues)) {
      out.push(`${where} must be one of ${params.allowedValues.map(q).join(', ')}`)
    } else {
      out.push(`${where} ${e.message ?? 'is invalid'}`)
    }
  }
  for (const [where, values] of literals) out.push(`${where} must be ${values.map(q).join(' or ')}`)
  return [...new Set(out)].join('; ')
}

/** Fastify's schemaErrorFormatter: a 400 whose message is describeSchemaErrors. */
export function schemaErrorFormatter (errors: FastifySchemaValidationError[], dataVar: string): Error {
  return new Error(describeSchemaErrors(errors, dataVar))
}
