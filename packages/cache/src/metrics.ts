import { Counter, Registry } from 'prom-client'

type Child = ReturnType<Counter<'cache'>['labels']>

export interface CacheCounters {
  hits: Child
  misses: Child
  failOpen: Child
  errors: Child
}

// Several caches (and several apps in one test process) share a registry: reuse a counter
// that is already registered instead of registering it twice (prom-client throws).
function counter (registry: Registry, name: string, help: string): Counter<'cache'> {
  const existing = registry.getSingleMetric(name)
  if (existing !== undefined) return existing as Counter<'cache'>
  return new Counter({ name, help, labelNames: ['cache'], registers: [registry] })
}

/** The cache's counters in `registry` (a private one when none is given), labelled with `cache`. */
export function cacheCounters (registry: Registry, cache: string): CacheCounters {
  return {
    hits: counter(registry, 'federate_cache_hits_total', 'cache reads answered by memcached').labels({ cache }),
    misses: counter(registry, 'federate_cache_misses_total', 'cache reads that called the loader and stored its value').labels({ cache }),
    failOpen: counter(registry, 'federate_cache_fail_open_total', 'cache reads that went straight to the loader because memcached was down or slow').labels({ cache }),
    errors: counter(registry, 'federate_cache_errors_total', 'memcached operations that failed or timed out').labels({ cache }),
  }
}
