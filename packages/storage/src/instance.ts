// The instance side of storage (what the agent needs to sync prompts), as its own entry point
// `@federate/storage/instance`: it loads no AWS SDK, so an agent starts in a fraction of the time.
export { syncManifest, syncedVersion, resetSyncState, partialPath } from './sync.ts'
export type { SyncResult } from './sync.ts'
export { SOUNDS_PREFIX } from './prompt-name.ts'
