// Runs every test file of the workspace with node's test runner through tsx.
// Usage: node scripts/run-tests.mjs [path-filter ...]
// The runner prints its own `# pass N` / `# fail N` summary, which CI reads.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

const roots = ['packages', 'apps', 'test']
const files = []
function walk (dir) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path)
    else if (name.endsWith('.test.ts') && /(^|\/)test\//.test(path)) files.push(path)
  }
}
for (const root of roots) walk(root)

const filters = process.argv.slice(2)
const selected = files.filter((f) => filters.length === 0 || filters.some((x) => f.includes(x))).sort()
if (selected.length === 0) {
  console.error('no test files matched', filters)
  process.exit(1)
}
mkdirSync('test-results', { recursive: true })
const tapFile = `test-results/tap-${process.pid}.txt`
const concurrency = process.env.TEST_CONCURRENCY ?? '2'
const result = spawnSync(process.execPath, [
  // A test that hangs fails after 4 minutes instead of holding the run (and CI) forever.
  '--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=240000',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${tapFile}`, ...selected,
], { stdio: 'inherit', env: { ...process.env, TZ: 'UTC' }, timeout: Number(process.env.TEST_RUN_TIMEOUT_MS ?? 45 * 60_000), killSignal: 'SIGKILL' })
if (result.error) console.error(`test run stopped: ${result.error.message}`)
// Close with the TAP summary lines (`# pass N`, `# fail N`) that CI reads.
const tap = readFileSync(tapFile, 'utf8').split('\n')
console.log(tap.filter((l) => /^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /.test(l)).join('\n'))
process.exit(result.status ?? 1)
