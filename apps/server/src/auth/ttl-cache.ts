/**
 * A small in-process map whose entries expire: remembers verified credentials for a few seconds so
 * the step path does not query PostgreSQL on every request. Bounded: the oldest entry goes first.
 */
export class TtlCache<V> {
  readonly #entries = new Map<string, { value: V, expires: number }>()
  constructor (readonly ttlMs: number, readonly maxEntries = 10_000) {}

  get (key: string, now = Date.now()): V | undefined {
    const e = this.#entries.get(key)
    if (e === undefined || e.expires <= now) return undefined
    return e.value
  }

  /** An entry even past its expiry, if it is still held (for when the source cannot be asked). */
  stale (key: string): V | undefined {
    return this.#entries.get(key)?.value
  }

  set (key: string, value: V, now = Date.now()): void {
    if (this.ttlMs <= 0) return
    this.#entries.delete(key)
    if (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value as string)
    this.#entries.set(key, { value, expires: now + this.ttlMs })
  }

  clear (): void {
    this.#entries.clear()
  }
}
