import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { Faults, Methods } from '@federate/protocol'
import { BEGIN, END, renderProtocolSections } from '../scripts/protocol-doc.ts'

const doc = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8')

test('docs/protocol.md lists every fault code of packages/protocol in its fault table', () => {
  const missing = Object.entries(Faults).filter(([name, f]) => !doc.includes(`| ${f.code} | ${name} |`))
  assert.deepEqual(missing.map(([name, f]) => `${f.code} ${name}`), [], 'add these rows to the fault table of docs/protocol.md')
})

test('docs/protocol.md documents every protocol method with its current schemas', () => {
  for (const name of Object.keys(Methods)) assert.ok(doc.includes(`### \`${name}\``), name)
  const generated = doc.slice(doc.indexOf(BEGIN), doc.indexOf(END) + END.length)
  assert.equal(generated, renderProtocolSections(), 'the schemas changed: run `pnpm exec tsx packages/xmlrpc/scripts/protocol-doc.ts`')
})
