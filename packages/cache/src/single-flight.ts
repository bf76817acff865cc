/** One call in progress for a key; `current` tells a finishing call whether it was superseded. */
export interface Flight<T> {
  promise: Promise<T>
}

/**
 * Collapses concurrent calls for the same key into one: the first caller runs `fn`, the
 * others share its promise until it settles (result or error).
 */
export class SingleFlight {
  private readonly flights = new Map<string, Flight<unknown>>()

  get size (): number {
    return this.flights.size
  }

  run<T> (key: string, fn: (flight: Flight<T>) => Promise<T>): Promise<T> {
    const existing = this.flights.get(key) as Flight<T> | undefined
    if (existing !== undefined) return existing.promise
    const flight = {} as Flight<T>
    this.flights.set(key, flight)
    flight.promise = (async () => {
      try {
        return await fn(flight)
      } finally {
        if (this.flights.get(key) === flight) this.flights.delete(key)
      }
    })()
    return flight.promise
  }

  /** Whether `flight` is still the one in progress for `key` (false after `forget`). */
  current (key: string, flight: Flight<unknown>): boolean {
    return this.flights.get(key) === flight
  }

  /** Detaches the call in progress: later callers start a new one, and the old one may not store. */
  forget (key: string): void {
    this.flights.delete(key)
  }
}
