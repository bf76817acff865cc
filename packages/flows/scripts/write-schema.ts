// Writes packages/flows/flow.schema.json from the TypeBox schemas. Run after changing schema.ts:
//   pnpm --filter @federate/flows schema
// test/json-schema.test.ts fails while the committed file differs from the generated one.
import { writeFileSync } from 'node:fs'
import { flowJsonSchemaText } from '../src/json-schema.ts'

const target = new URL('../flow.schema.json', import.meta.url)
writeFileSync(target, flowJsonSchemaText())
console.log(`wrote ${target.pathname}`)
