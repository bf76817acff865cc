import type { WriteKind } from './group-commit.ts'
import { checkCallEnd, checkCallStart, endCalls, startCalls, type CallEnd, type CallStart } from './calls.ts'
import { checkResult, insertMany, type CallResult } from './results.ts'

/**
 * The core records that go through group commit, ready to pass as `createGroupCommitter(pool,
 * { kinds: coreWriteKinds })`. Every apply is idempotent (keyed by call id), as resends require.
 */
export const coreWriteKinds = {
  'call.start': { apply: async (client, records) => { await startCalls(client, records) }, validate: checkCallStart } satisfies WriteKind<CallStart>,
  'call.end': { apply: async (client, records) => await endCalls(client, records), validate: checkCallEnd } satisfies WriteKind<CallEnd>,
  'call.result': { apply: async (client, records) => await insertMany(client, records), validate: checkResult } satisfies WriteKind<CallResult>,
}
