#!/usr/bin/env node
import { Command } from 'commander'
import { register } from './commands/sim.ts'
import { fail } from './output.ts'

// `federate sim` alone: what the local provider bundles (apps/controller/src/sim-bundle.ts) and
// runs with plain node for each simulated instance. Same command, same flags: `sim-entry sim ...`.
// Loading only the simulator and its agent is what lets dozens of instances boot at once.

const program = new Command('federate')
register(program)

try {
  await program.parseAsync(process.argv)
} catch (err) {
  fail(err)
}
