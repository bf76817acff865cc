// The alternative the agent replaces: a plain AGI script that Asterisk starts once per step
// (AGI(/path/agi-script.mjs)). It reads the environment on stdin, asks for FED_STATE, calls the
// app tier over HTTP with a hand-written XML-RPC body, sets the variables and exits.
// Used by scripts/bench/agent.ts only. Env: TIER_URL.
import http from 'node:http'
import { createInterface } from 'node:readline'

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const next = async () => (await lines.next()).value ?? ''
const send = async (cmd) => { process.stdout.write(cmd + '\n'); return await next() }
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')

const env = {}
for (;;) {
  const line = await next()
  if (line === '') break
  const i = line.indexOf(': ')
  env[line.slice(4, i)] = line.slice(i + 2)
}
const got = await send('GET VARIABLE FED_STATE')
const state = /^200 result=1 \((.*)\)$/.exec(got)?.[1]
const member = (k, v) => `<member><name>${k}</name><value><string>${esc(v)}</string></value></member>`
const body = '<?xml version="1.0"?><methodCall><methodName>call.step</methodName><params><param><value><struct>' +
  member('callId', env.arg_2 || 'c1') + member('instanceId', 'bench-1') + member('event', env.arg_1 || 'start') +
  (state ? member('state', state) : '') + '<member><name>data</name><value><struct></struct></value></member>' +
  `<member><name>channel</name><value><struct>${member('extension', env.extension ?? '')}</struct></value></member>` +
  '</struct></value></param></params></methodCall>'
const xml = await new Promise((resolve, reject) => {
  const req = http.request(process.env.TIER_URL, { method: 'POST', headers: { 'content-type': 'text/xml', authorization: 'Bearer t' }, timeout: 2000 }, (res) => {
    let text = ''
    res.setEncoding('utf8')
    res.on('data', (c) => { text += c })
    res.on('end', () => resolve(text))
  })
  req.on('error', reject)
  req.end(body)
})
const value = (name) => new RegExp(`<name>${name}</name>\\s*<value>(?:<string>)?([^<]*)`).exec(xml)?.[1] ?? ''
await send(`SET VARIABLE FED_STATE "${value('state')}"`)
await send(`SET VARIABLE FED_WAIT_SEC "${value('seconds')}"`)
await send(`SET VARIABLE FED_ACTION "${value('action')}"`)
process.exit(0)
