import { FlowSchema } from './schema.ts'

/**
 * The flow format as a plain JSON Schema (draft 2020-12), for editors and other languages.
 * packages/flows/flow.schema.json is this object, written by scripts/write-schema.ts.
 */
export const flowJsonSchema: Record<string, unknown> = Object.freeze({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'urn:federate:flow:1',
  title: 'Federate call flow (federate.flow/1)',
  // A JSON round trip drops TypeBox's non-enumerable bookkeeping and leaves plain JSON Schema.
  ...JSON.parse(JSON.stringify(FlowSchema)),
})

/** The file's exact text: stable key order, two-space indent, final newline. */
export function flowJsonSchemaText (): string {
  return JSON.stringify(flowJsonSchema, null, 2) + '\n'
}
