import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { Compile } from 'typebox/compile'
import { flowJsonSchema, flowJsonSchemaText } from '../src/index.ts'
import { example } from './helpers.ts'

test('the committed flow.schema.json equals the generated schema (run `pnpm --filter @federate/flows schema`)', () => {
  const committed = readFileSync(new URL('../flow.schema.json', import.meta.url), 'utf8')
  assert.equal(committed, flowJsonSchemaText())
})

test('the JSON Schema is plain JSON that accepts the examples and rejects a broken flow', () => {
  assert.equal(flowJsonSchema.$schema, 'https://json-schema.org/draft/2020-12/schema')
  const plain = JSON.parse(JSON.stringify(flowJsonSchema))
  const check = Compile(plain)
  assert.equal(check.Check(example('ivr')), true)
  assert.equal(check.Check(example('poll')), true)
  assert.equal(check.Check({ format: 'federate.flow/1', name: 'x', start: 'a', nodes: { a: { type: 'play' } } }), false)
})
