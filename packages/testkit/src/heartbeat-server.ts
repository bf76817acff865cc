import { createServer } from 'node:http'

// Just enough of an app server for an agent to boot against: answers instance.heartbeat with no
// commands, faults every other method, and records who called (method, Authorization, body).

export interface HeartbeatServer {
  url: string
  calls: Array<{ method: string, auth: string | undefined, body: string }>
  close: () => Promise<void>
}

const HEARTBEAT_OK = '<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>commands</name><value><array><data></data></array></value></member><member><name>manifestVersion</name><value><int>0</int></value></member></struct></value></param></params></methodResponse>'
const NOT_HERE = '<?xml version="1.0"?><methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int></value></member><member><name>faultString</name><value><string>not here</string></value></member></struct></value></fault></methodResponse>'

export async function startHeartbeatServer (): Promise<HeartbeatServer> {
  const calls: HeartbeatServer['calls'] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => { body += c })
    req.on('end', () => {
      const method = /<methodName>([^<]+)</.exec(body)?.[1] ?? ''
      calls.push({ method, auth: req.headers.authorization, body })
      res.writeHead(200, { 'content-type': 'text/xml' })
      res.end(method === 'instance.heartbeat' ? HEARTBEAT_OK : NOT_HERE)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  return {
    url: `http://127.0.0.1:${port}/RPC2`,
    calls,
    close: async () => { await new Promise<void>((resolve) => server.close(() => resolve())) },
  }
}
