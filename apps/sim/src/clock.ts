// One clock per fleet: every simulated delay (ring time, prompt length, talk time) goes through
// it, divided by `speed`. A binary heap and a single real timer keep thousands of pending call
// timers cheap (no per-call setTimeout/setInterval churn in libuv).

export interface Timer {
  cancel: () => void
}

export interface Clock {
  /** Simulated milliseconds since the clock started. */
  now: () => number
  /** Simulated seconds since the clock started. */
  nowSec: () => number
  /** Simulated Unix time in seconds (${EPOCH}): the real start time plus simulated time. */
  epochSec: () => number
  /** Runs `fn` after `simMs` simulated milliseconds. */
  after: (simMs: number, fn: () => void) => Timer
  /** Resolves after `simMs` simulated milliseconds (or at once when the clock closes). */
  sleep: (simMs: number) => Promise<void>
  readonly speed: number
  /** Pending timers (for stats and tests). */
  pending: () => number
  /** Cancels every timer; idempotent. */
  close: () => void
}

interface Entry { due: number, seq: number, fn: (() => void) | null }

export function createClock ({ speed = 1 }: { speed?: number } = {}): Clock {
  if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError(`speed must be a positive number, got ${speed}`)
  const origin = performance.now()
  const epoch0 = Date.now() / 1000
  const heap: Entry[] = []
  let seq = 0
  let live = 0
  let armed: NodeJS.Timeout | undefined
  let armedAt = Infinity
  let closed = false
  const sleepers = new Set<() => void>()

  const less = (a: Entry, b: Entry): boolean => a.due < b.due || (a.due === b.due && a.seq < b.seq)
  const push = (e: Entry): void => {
    heap.push(e)
    let i = heap.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(heap[i]!, heap[p]!)) break
      const t = heap[i]!; heap[i] = heap[p]!; heap[p] = t
      i = p
    }
  }
  const pop = (): Entry | undefined => {
    const top = heap[0]
    const last = heap.pop()
    if (heap.length > 0 && last) {
      heap[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r
        if (m === i) break
        const t = heap[i]!; heap[i] = heap[m]!; heap[m] = t
        i = m
      }
    }
    return top
  }

  const fire = (): void => {
    armed = undefined
    armedAt = Infinity
    const now = performance.now()
    // Run everything due (with 1 ms slack, timers fire a little early or late).
    while (heap.length > 0 && heap[0]!.due <= now + 1) {
      const e = pop()!
      const fn = e.fn
      if (!fn) continue
      e.fn = null
      live--
      try {
        fn()
      } catch (err) {
        // A callback error must not stop the other calls' timers.
        process.nextTick(() => { throw err })
      }
    }
    arm()
  }
  const arm = (): void => {
    while (heap.length > 0 && heap[0]!.fn === null) pop()
    if (closed || heap.length === 0) return
    const due = heap[0]!.due
    if (armed && armedAt <= due) return
    if (armed) clearTimeout(armed)
    armedAt = due
    armed = setTimeout(fire, Math.max(0, due - performance.now()))
  }

  const clock: Clock = {
    speed,
    now: () => (performance.now() - origin) * speed,
    nowSec: () => (performance.now() - origin) * speed / 1000,
    epochSec: () => epoch0 + (performance.now() - origin) * speed / 1000,
    after (simMs, fn) {
      if (closed) return { cancel () {} }
      const e: Entry = { due: performance.now() + Math.max(0, simMs) / speed, seq: seq++, fn }
      live++
      push(e)
      if (e.due < armedAt) arm()
      return {
        cancel () {
          if (e.fn) {
            e.fn = null
            live--
          }
        },
      }
    },
    sleep (simMs) {
      return new Promise<void>((resolve) => {
        if (closed) return resolve()
        const done = (): void => { sleepers.delete(done); resolve() }
        sleepers.add(done)
        clock.after(simMs, done)
      })
    },
    pending: () => live,
    close () {
      if (closed) return
      closed = true
      if (armed) clearTimeout(armed)
      armed = undefined
      for (const e of heap) e.fn = null
      heap.length = 0
      live = 0
      for (const s of [...sleepers]) s()
    },
  }
  return clock
}
