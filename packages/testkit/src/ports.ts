import { createServer } from 'node:net'
import { randomBytes, randomInt } from 'node:crypto'

// Ports for servers a test starts (or asks a child process to start) after choosing the port.
// Port 0 hands out ports from the kernel's ephemeral range (32768-60999 on Linux), the range every
// outgoing connection also takes its local port from: with dozens of processes connecting,
// another socket could take the port between this check and the server's listen (seen in CI as
// EADDRINUSE). Below that range only listeners compete, and each port is checked free first.
const LOW = 20_000
const HIGH = 32_000

const bindable = async (port: number): Promise<boolean> => await new Promise((resolve) => {
  const srv = createServer()
  srv.unref()
  srv.once('error', () => { resolve(false) })
  srv.listen(port, '127.0.0.1', () => { srv.close(() => { resolve(true) }) })
})

/** A TCP port that was free on 127.0.0.1 a moment ago, outside the ephemeral range. */
export async function freePort (): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = randomInt(LOW, HIGH)
    if (await bindable(port)) return port
  }
  throw new Error(`no free port between ${LOW} and ${HIGH} after 50 tries`)
}

/** A short random suffix for queue names, key prefixes and buckets. */
export function suffix (): string {
  return randomBytes(4).toString('hex')
}
