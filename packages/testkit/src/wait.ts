import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Polls `check` until it returns a truthy value (which is returned) or `timeoutMs` passes,
 * then throws with the last error or value seen. Tests wait with this, never a bare sleep.
 */
export async function waitFor<T> (
  check: () => T | Promise<T>,
  { timeoutMs = 5000, intervalMs = 25, what = 'condition' }: { timeoutMs?: number, intervalMs?: number, what?: string } = {}
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value) return value as NonNullable<T>
      last = value
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`)
    }
    await sleep(intervalMs)
  }
}
