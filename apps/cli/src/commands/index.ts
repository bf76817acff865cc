import type { Command } from 'commander'

/** A command group: adds its subcommands to the program. */
export type Register = (program: Command) => void

// One file per command group; each exports `register`.
export const commands: Array<() => Promise<{ register: Register }>> = [
  async () => await import('./migrate.ts'),
  async () => await import('./services.ts'),
  async () => await import('./serve.ts'),
  async () => await import('./keys.ts'),
  async () => await import('./instances.ts'),
  async () => await import('./flows.ts'),
  async () => await import('./campaign.ts'),
  async () => await import('./contacts.ts'),
  async () => await import('./sim.ts'),
  async () => await import('./agent.ts'),
  async () => await import('./audio.ts'),
  async () => await import('./controller.ts'),
  async () => await import('./demo.ts'),
]
