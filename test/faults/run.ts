import { spawnSync } from 'node:child_process'
import { faultTable, readFaultRows } from '../helpers/faults.ts'
import { ROOT } from '../helpers/system.ts'

// `pnpm test:faults`: runs the fault suite one file at a time (each fault starts the whole
// system; running two at once on a small machine blurs the figures), then prints one row per
// fault from test-results/faults/. Extra arguments filter the files like run-tests.mjs does.

const started = new Date()
const filters = process.argv.slice(2)
const r = spawnSync(process.execPath, ['scripts/run-tests.mjs', ...(filters.length ? filters.map((f) => `test/faults/${f}`) : ['test/faults/'])], {
  cwd: ROOT,
  stdio: 'inherit',
  env: { TEST_CONCURRENCY: '1', ...process.env },
})
const rows = readFaultRows(started)
console.log(`\nFault suite (${rows.length} fault${rows.length === 1 ? '' : 's'} recorded in this run; details in test-results/faults/*.json):\n`)
console.log(rows.length ? faultTable(rows) : '(no fault recorded a row)')
process.exit(r.status ?? 1)
