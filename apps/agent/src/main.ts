import { runAgent } from './run.ts'

// `tsx apps/agent/src/main.ts [config.json]`: the agent process (the CLI's `federate agent` does the same).
await runAgent({ configFile: process.argv[2] })
