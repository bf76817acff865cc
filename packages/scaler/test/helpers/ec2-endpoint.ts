import { createServer, type Server } from 'node:http'
import { randomBytes } from 'node:crypto'

// A small EC2 endpoint speaking the Query API (form-encoded Action=..., XML answers in the
// 2016-11-15 namespace), enough for the real EC2Client: RunInstances (ClientToken idempotency,
// tags, capacity errors per subnet/type), DescribeInstances (filters, paging, a visibility lag
// for eventual consistency), TerminateInstances, CreateTags. Faults are injected per test.

const NS = 'http://ec2.amazonaws.com/doc/2016-11-15/'

export interface FakeInstance {
  instanceId: string
  instanceType: string
  subnetId: string
  state: 'pending' | 'running' | 'shutting-down' | 'terminated'
  launchTime: Date
  clientToken: string
  userData: string
  launchTemplateId: string
  tags: Map<string, string>
  /** Not listed by DescribeInstances before this time (ms). */
  visibleAt: number
}

export interface Ec2Endpoint {
  url: string
  instances: Map<string, FakeInstance>
  /** Every request: its Action and form parameters. */
  requests: Array<{ action: string, params: URLSearchParams }>
  /** The next n requests (any action) answer RequestLimitExceeded. */
  throttle: (n: number) => void
  /** RunInstances in these subnets or with these types answers InsufficientInstanceCapacity. */
  noCapacity: Set<string>
  /** New instances stay out of DescribeInstances this long. */
  hideNewForMs: number
  /** Page size of DescribeInstances (to exercise NextToken). */
  pageSize: number
  close: () => Promise<void>
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
const STATE_CODE = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48 } as const

function instanceXml (i: FakeInstance): string {
  const tags = [...i.tags].map(([k, v]) => `<item><key>${esc(k)}</key><value>${esc(v)}</value></item>`).join('')
  return `<item><instanceId>${i.instanceId}</instanceId><imageId>ami-12345678</imageId>` +
    `<instanceState><code>${STATE_CODE[i.state]}</code><name>${i.state}</name></instanceState>` +
    `<privateDnsName>ip-10-0-0-1.ec2.internal</privateDnsName><instanceType>${i.instanceType}</instanceType>` +
    `<launchTime>${i.launchTime.toISOString()}</launchTime><placement><availabilityZone>us-east-1a</availabilityZone></placement>` +
    `<subnetId>${i.subnetId}</subnetId><privateIpAddress>10.0.0.${parseInt(i.instanceId.slice(-2), 16) % 250}</privateIpAddress>` +
    `<clientToken>${esc(i.clientToken)}</clientToken><tagSet>${tags}</tagSet></item>`
}

function errorXml (code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${esc(message)}</Message></Error></Errors><RequestID>${randomBytes(8).toString('hex')}</RequestID></Response>`
}

// `Prefix.1.Name`-style lists: the values of Prefix.N(.suffix) in N order.
function list (p: URLSearchParams, prefix: string, suffix = ''): string[] {
  const out: Array<[number, string]> = []
  const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.(\\d+)${suffix.replace(/\./g, '\\.')}$`)
  for (const [k, v] of p) {
    const m = re.exec(k)
    if (m) out.push([Number(m[1]), v])
  }
  return out.sort((a, b) => a[0] - b[0]).map(([, v]) => v)
}

export async function startEc2Endpoint (): Promise<Ec2Endpoint> {
  const instances = new Map<string, FakeInstance>()
  const byToken = new Map<string, string>()
  const requests: Ec2Endpoint['requests'] = []
  let throttled = 0
  const state = { hideNewForMs: 0, pageSize: 1000 }
  const noCapacity = new Set<string>()

  function run (p: URLSearchParams): [number, string] {
    const token = p.get('ClientToken') ?? ''
    const userData = p.get('UserData') ?? ''
    const known = token ? byToken.get(token) : undefined
    if (known) {
      const i = instances.get(known)!
      if (i.userData !== userData) return [400, errorXml('IdempotentParameterMismatch', 'The client token you have provided is associated with a resource that has different parameters.')]
      return [200, runXml([i])]
    }
    const subnet = p.get('SubnetId') ?? 'subnet-default'
    const type = p.get('InstanceType') ?? 't3.medium'
    if (noCapacity.has(subnet) || noCapacity.has(type)) {
      return [500, errorXml('InsufficientInstanceCapacity', `We currently do not have sufficient ${type} capacity in the Availability Zone you requested.`)]
    }
    const tags = new Map<string, string>()
    for (let n = 1; p.has(`TagSpecification.${n}.ResourceType`); n++) {
      if (p.get(`TagSpecification.${n}.ResourceType`) !== 'instance') continue
      const keys = list(p, `TagSpecification.${n}.Tag`, '.Key')
      const values = list(p, `TagSpecification.${n}.Tag`, '.Value')
      keys.forEach((k, j) => tags.set(k, values[j] ?? ''))
    }
    const i: FakeInstance = {
      instanceId: `i-${randomBytes(8).toString('hex').slice(0, 17)}`,
      instanceType: type,
      subnetId: subnet,
      state: 'pending',
      launchTime: new Date(),
      clientToken: token,
      userData,
      launchTemplateId: p.get('LaunchTemplate.LaunchTemplateId') ?? '',
      tags,
      visibleAt: Date.now() + state.hideNewForMs,
    }
    instances.set(i.instanceId, i)
    if (token) byToken.set(token, i.instanceId)
    return [200, runXml([i])]
  }

  const runXml = (list: FakeInstance[]) =>
    `<?xml version="1.0" encoding="UTF-8"?>\n<RunInstancesResponse xmlns="${NS}"><requestId>r-1</requestId><reservationId>r-${randomBytes(4).toString('hex')}</reservationId>` +
    `<ownerId>123456789012</ownerId><groupSet/><instancesSet>${list.map(instanceXml).join('')}</instancesSet></RunInstancesResponse>`

  function describe (p: URLSearchParams): [number, string] {
    const now = Date.now()
    const ids = list(p, 'InstanceId')
    const names = list(p, 'Filter', '.Name')
    const filters = names.map((name, n) => ({ name, values: list(p, `Filter.${n + 1}.Value`) }))
    const match = (i: FakeInstance) => filters.every(({ name, values }) => {
      if (name.startsWith('tag:')) return values.includes(i.tags.get(name.slice(4)) ?? '\0')
      if (name === 'instance-state-name') return values.includes(i.state)
      if (name === 'client-token') return values.includes(i.clientToken)
      return true
    })
    const all = [...instances.values()].filter((i) => i.visibleAt <= now && (ids.length === 0 || ids.includes(i.instanceId)) && match(i))
    const start = Number(p.get('NextToken') || 0)
    const page = all.slice(start, start + state.pageSize)
    const next = start + state.pageSize < all.length ? `<nextToken>${start + state.pageSize}</nextToken>` : ''
    const reservations = page.map((i) => `<item><reservationId>r-1</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>${instanceXml(i)}</instancesSet></item>`).join('')
    return [200, `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="${NS}"><requestId>r-2</requestId><reservationSet>${reservations}</reservationSet>${next}</DescribeInstancesResponse>`]
  }

  function terminate (p: URLSearchParams): [number, string] {
    const ids = list(p, 'InstanceId')
    const missing = ids.filter((id) => !instances.has(id))
    if (missing.length) return [400, errorXml('InvalidInstanceID.NotFound', `The instance IDs '${missing.join(', ')}' do not exist`)]
    const items = ids.map((id) => {
      const i = instances.get(id)!
      const prev = i.state
      i.state = 'terminated'
      return `<item><instanceId>${id}</instanceId><currentState><code>48</code><name>terminated</name></currentState><previousState><code>${STATE_CODE[prev]}</code><name>${prev}</name></previousState></item>`
    }).join('')
    return [200, `<?xml version="1.0" encoding="UTF-8"?>\n<TerminateInstancesResponse xmlns="${NS}"><requestId>r-3</requestId><instancesSet>${items}</instancesSet></TerminateInstancesResponse>`]
  }

  function createTags (p: URLSearchParams): [number, string] {
    const keys = list(p, 'Tag', '.Key')
    const values = list(p, 'Tag', '.Value')
    for (const id of list(p, 'ResourceId')) {
      const i = instances.get(id)
      if (!i) return [400, errorXml('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`)]
      keys.forEach((k, j) => i.tags.set(k, values[j] ?? ''))
    }
    return [200, `<?xml version="1.0" encoding="UTF-8"?>\n<CreateTagsResponse xmlns="${NS}"><requestId>r-4</requestId><return>true</return></CreateTagsResponse>`]
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const p = new URLSearchParams(Buffer.concat(chunks).toString('utf8'))
      const action = p.get('Action') ?? ''
      requests.push({ action, params: p })
      let out: [number, string]
      if (throttled > 0) {
        throttled--
        out = [503, errorXml('RequestLimitExceeded', 'Request limit exceeded.')]
      } else if (action === 'RunInstances') out = run(p)
      else if (action === 'DescribeInstances') out = describe(p)
      else if (action === 'TerminateInstances') out = terminate(p)
      else if (action === 'CreateTags') out = createTags(p)
      else out = [400, errorXml('InvalidAction', `The action ${action} is not valid for this web service.`)]
      res.writeHead(out[0], { 'content-type': 'text/xml;charset=UTF-8' })
      res.end(out[1])
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    instances,
    requests,
    throttle: (n) => { throttled = n },
    noCapacity,
    get hideNewForMs () { return state.hideNewForMs },
    set hideNewForMs (v) { state.hideNewForMs = v },
    get pageSize () { return state.pageSize },
    set pageSize (v) { state.pageSize = v },
    close: async () => { await new Promise<void>((resolve) => server.close(() => resolve())) },
  }
}
