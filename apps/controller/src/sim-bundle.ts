import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildSync } from 'esbuild'
import type { Logger } from 'pino'

// The simulated instances of the local provider run one bundled file with plain node: under tsx,
// each of dozens of instances booting at once paid ~2 CPU-seconds transforming and resolving the
// same hundreds of modules (36 at once took ~57 s on 2 cores). The bundle is rebuilt from this
// checkout each time a provider is created (~1 s), so it never runs stale code.

const ENTRY = fileURLToPath(new URL('../../cli/src/sim-entry.ts', import.meta.url))

// Bundled CommonJS dependencies call require() for Node's built-ins; ESM output has none.
const REQUIRE_SHIM = "import { createRequire as __federateCreateRequire } from 'node:module'; const require = __federateCreateRequire(import.meta.url);"

/**
 * Writes `<dir>/federate-sim.mjs` (temporary file + rename: an instance starting meanwhile reads
 * the old file or the new one, never half of one) and returns node's arguments to run it.
 */
export function buildSimBundle (dir: string): string[] {
  mkdirSync(dir, { recursive: true })
  const out = join(dir, 'federate-sim.mjs')
  const result = buildSync({
    entryPoints: [ENTRY],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    banner: { js: REQUIRE_SHIM },
    write: false,
    logLevel: 'silent',
  })
  const tmp = `${out}.${process.pid}.tmp`
  writeFileSync(tmp, result.outputFiles[0]!.contents)
  renameSync(tmp, out)
  return [out]
}

/** The bundle's arguments, or null (the provider then runs the CLI through tsx) if it cannot be built. */
export function trySimBundle (dir: string, logger?: Logger): string[] | null {
  try {
    return buildSimBundle(dir)
  } catch (err) {
    logger?.warn({ err: (err as Error).message }, 'could not bundle federate sim: local instances start through tsx (slower)')
    return null
  }
}
