import { createServer } from 'node:net'
import { randomBytes } from 'node:crypto'

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => { resolve(typeof addr === 'object' && addr ? addr.port : 0) })
    })
  })
}

/** A short random suffix for queue names, key prefixes and buckets. */
export function suffix (): string {
  return randomBytes(4).toString('hex')
}
