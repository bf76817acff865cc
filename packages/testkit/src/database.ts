import { randomBytes } from 'node:crypto'
import pg from 'pg'

const baseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/federate'

/** A URL for the same server, another database. */
export function databaseUrl (name: string, url = baseUrl): string {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}

/**
 * Creates an empty database with a random name on the test server and returns its URL
 * and a drop function (call it from `t.after`). Tests never share a database.
 */
export async function createTestDatabase (prefix = 'fedtest'): Promise<{ url: string, name: string, drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: databaseUrl('postgres') })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE "${name}"`)
  } finally {
    await admin.end()
  }
  let dropped = false
  return {
    url: databaseUrl(name),
    name,
    async drop () {
      if (dropped) return
      dropped = true
      const c = new pg.Client({ connectionString: databaseUrl('postgres') })
      await c.connect()
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      } finally {
        await c.end()
      }
    },
  }
}
