import type { FastifyInstance } from 'fastify'
import type { Queryable } from '@federate/db'
import type { Registry } from 'prom-client'

/** /healthz (the process answers), /readyz (its dependencies answer), /metrics (Prometheus). */
export async function healthRoutes (app: FastifyInstance, opts: { db: Queryable, registry: Registry, cacheUp: () => boolean }): Promise<void> {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }))

  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    let database = true
    try {
      await Promise.race([
        opts.db.query('SELECT 1'),
        new Promise((_resolve, reject) => setTimeout(() => { reject(new Error('timeout')) }, 1000).unref()),
      ])
    } catch {
      database = false
    }
    // The cache failing open does not make the server unready: steps still answer from PostgreSQL.
    const body = { ready: database, database, cache: opts.cacheUp() }
    reply.code(database ? 200 : 503)
    return body
  })

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(opts.registry.contentType)
    return await opts.registry.metrics()
  })
}
