import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { DescribeInstancesCommand, EC2Client, EC2ServiceException, RunInstancesCommand } from '@aws-sdk/client-ec2'
import { mockClient } from 'aws-sdk-client-mock'
import { clientToken, createEc2Provider, TAG_CLUSTER, TAG_INSTANCE_ID, type Ec2ProviderOptions } from '../src/index.ts'
import { startEc2Endpoint, type Ec2Endpoint } from './helpers/ec2-endpoint.ts'

async function setup (t: TestContext, more: Partial<Ec2ProviderOptions> = {}) {
  const ep = await startEc2Endpoint()
  const sleeps: number[] = []
  const provider = createEc2Provider({
    region: 'us-east-1',
    endpoint: ep.url,
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
    cluster: 'test',
    launchTemplateId: 'lt-0abc',
    launchTemplateVersion: '3',
    subnets: ['subnet-a', 'subnet-b'],
    instanceTypes: ['c7i.large', 'c6i.large'],
    tags: { team: 'voice' },
    userData: (r) => `#cloud-config\n# id=${r.id} token=${r.token}\n`,
    retry: { baseDelayMs: 100, maxDelayMs: 1000, maxAttempts: 4, sleep: async (ms) => { sleeps.push(ms) }, random: () => 1 },
    ...more,
  })
  t.after(async () => {
    await provider.close()
    await ep.close()
  })
  return { ep, provider, sleeps }
}

const runs = (ep: Ec2Endpoint) => ep.requests.filter((r) => r.action === 'RunInstances')

test('launch runs the launch template with the instance\'s own user-data, tags and ClientToken', async (t) => {
  const { ep, provider } = await setup(t)
  const out = await provider.launch([{ id: 'test-aa-1', token: 'fit_tokA' }, { id: 'test-bb-1', token: 'fit_tokB' }])
  assert.deepEqual(out.failed, [])
  assert.equal(out.launched.length, 2)
  assert.equal(ep.instances.size, 2)
  const req = runs(ep).find((r) => r.params.get('TagSpecification.1.Tag.2.Value') === 'test-aa-1')!.params
  assert.equal(req.get('LaunchTemplate.LaunchTemplateId'), 'lt-0abc')
  assert.equal(req.get('LaunchTemplate.Version'), '3')
  assert.equal(req.get('MinCount'), '1')
  assert.equal(req.get('MaxCount'), '1')
  assert.equal(req.get('InstanceType'), 'c7i.large')
  assert.match(req.get('SubnetId')!, /^subnet-[ab]$/)
  assert.equal(req.get('ClientToken'), clientToken('test', 'test-aa-1', { subnet: req.get('SubnetId')!, type: 'c7i.large' }))
  assert.ok(req.get('ClientToken')!.length <= 64)
  assert.match(Buffer.from(req.get('UserData')!, 'base64').toString(), /id=test-aa-1 token=fit_tokA/)
  const inst = [...ep.instances.values()].find((i) => i.tags.get(TAG_INSTANCE_ID) === 'test-aa-1')!
  assert.equal(inst.tags.get(TAG_CLUSTER), 'test')
  assert.equal(inst.tags.get('Name'), 'federate-test-aa-1')
  assert.equal(inst.tags.get('team'), 'voice')
  assert.equal(req.get('TagSpecification.2.ResourceType'), 'volume')

  const listed = await provider.list()
  assert.deepEqual(listed.map((i) => i.id).sort(), ['test-aa-1', 'test-bb-1'])
  assert.equal(listed.find((i) => i.id === 'test-aa-1')!.ref, inst.instanceId)
  assert.equal(listed[0]!.state, 'pending')
  assert.equal(listed[0]!.instanceType, 'c7i.large')
  // Instances of another cluster are not ours.
  for (const i of ep.instances.values()) i.tags.set(TAG_CLUSTER, 'other')
  assert.deepEqual(await provider.list(), [])
})

test('launching the same id again returns the same instance, even from a new leader with a new token', async (t) => {
  const { ep, provider } = await setup(t)
  const first = await provider.launch([{ id: 'test-cc-1', token: 'fit_one' }])
  const again = await provider.launch([{ id: 'test-cc-1', token: 'fit_one' }])
  assert.equal(again.launched[0]!.ref, first.launched[0]!.ref)
  assert.equal(ep.instances.size, 1)
  // A new leader re-issues a token: other user-data, same ClientToken -> IdempotentParameterMismatch -> adopted.
  const other = createEc2Provider({ region: 'us-east-1', endpoint: ep.url, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, cluster: 'test', launchTemplateId: 'lt-0abc', subnets: ['subnet-a', 'subnet-b'], instanceTypes: ['c7i.large', 'c6i.large'], userData: (r) => `token=${r.token}` })
  t.after(() => other.close())
  const adopted = await other.launch([{ id: 'test-cc-1', token: 'fit_two' }])
  assert.deepEqual(adopted.failed, [])
  assert.equal(adopted.launched[0]!.ref, first.launched[0]!.ref)
  assert.equal(ep.instances.size, 1)
  assert.ok(ep.requests.some((r) => r.action === 'DescribeInstances' && r.params.get('Filter.1.Name') === 'client-token'), 'adopted through the client-token filter')
})

test('throttling is retried with growing delays, and gives up after its attempts', async (t) => {
  const { ep, provider, sleeps } = await setup(t)
  ep.throttle(3)
  const ok = await provider.launch([{ id: 'test-dd-1', token: 'fit_x' }])
  assert.equal(ok.launched.length, 1)
  assert.deepEqual(sleeps, [100, 200, 400])
  assert.equal(runs(ep).length, 4)
  ep.throttle(10)
  const out = await provider.launch([{ id: 'test-ee-1', token: 'fit_y' }])
  assert.equal(out.launched.length, 0)
  assert.equal((out.failed[0]!.error as { code?: string }).code, 'FED_SCALER_THROTTLED')
  assert.equal((out.failed[0]!.error as { canRetry?: boolean }).canRetry, true)
})

test('no capacity moves the launch to the next subnet, then to the next instance type', async (t) => {
  const { ep, provider } = await setup(t)
  ep.noCapacity.add('subnet-a')
  const r1 = await provider.launch([{ id: 'test-ff-1', token: 'fit_a' }])
  assert.equal([...ep.instances.values()][0]!.subnetId, 'subnet-b')
  assert.equal(r1.launched.length, 1)
  ep.noCapacity.add('c7i.large')
  ep.noCapacity.delete('subnet-a')
  await provider.launch([{ id: 'test-gg-1', token: 'fit_b' }])
  const gg = [...ep.instances.values()].find((i) => i.tags.get(TAG_INSTANCE_ID) === 'test-gg-1')!
  assert.equal(gg.instanceType, 'c6i.large')
  ep.noCapacity.add('c6i.large')
  const none = await provider.launch([{ id: 'test-hh-1', token: 'fit_c' }])
  assert.equal((none.failed[0]!.error as { code?: string }).code, 'FED_SCALER_LAUNCH_FAILED')
  assert.match(none.failed[0]!.error.message, /no capacity in any of 4 placement/)
})

test('an instance DescribeInstances does not show yet stays listed as pending for the grace period', async (t) => {
  let now = Date.now()
  const { ep, provider } = await setup(t, { clock: () => now, listGraceMs: 60_000 })
  ep.hideNewForMs = 3_600_000
  const out = await provider.launch([{ id: 'test-ii-1', token: 'fit_z' }])
  const listed = await provider.list()
  assert.equal(listed.length, 1)
  assert.equal(listed[0]!.state, 'pending')
  assert.equal(listed[0]!.ref, out.launched[0]!.ref)
  now += 61_000
  assert.deepEqual(await provider.list(), [])
  // Once EC2 catches up, DescribeInstances is the truth again.
  for (const i of ep.instances.values()) { i.visibleAt = 0; i.state = 'running' }
  assert.equal((await provider.list())[0]!.state, 'running')
})

test('DescribeInstances pages are followed to the end', async (t) => {
  const { ep, provider } = await setup(t)
  await provider.launch(Array.from({ length: 5 }, (_, k) => ({ id: `test-p${k}-1`, token: 'fit' })))
  ep.pageSize = 2
  assert.equal((await provider.list()).length, 5)
  assert.equal(ep.requests.filter((r) => r.action === 'DescribeInstances' && r.params.get('NextToken')).length, 2)
})

test('terminate finds instances by their tag, and unknown or repeated ids are no error', async (t) => {
  const { ep, provider } = await setup(t)
  await provider.launch([{ id: 'test-jj-1', token: 'fit' }, { id: 'test-kk-1', token: 'fit' }])
  await provider.terminate(['test-jj-1', 'nobody-1'])
  const states = Object.fromEntries([...ep.instances.values()].map((i) => [i.tags.get(TAG_INSTANCE_ID), i.state]))
  assert.deepEqual(states, { 'test-jj-1': 'terminated', 'test-kk-1': 'pending' })
  await provider.terminate(['test-jj-1'])
  assert.equal((await provider.list()).find((i) => i.id === 'test-jj-1')!.state, 'terminated')
  const term = ep.requests.filter((r) => r.action === 'TerminateInstances')
  assert.equal(term.length, 1)
  // A forgotten instance (EC2 lost it between describe and terminate) is treated as gone.
  ep.instances.clear()
  await provider.terminate(['test-kk-1'])
})

test('with a mocked client: throttling on DescribeInstances is retried and an untagged answer is a failed launch', async (t) => {
  const client = new EC2Client({ region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } })
  const mock = mockClient(client)
  t.after(() => { mock.restore(); client.destroy() })
  const throttling = new EC2ServiceException({ name: 'Throttling', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' })
  mock.on(DescribeInstancesCommand).rejectsOnce(throttling).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-1', State: { Name: 'running' }, Tags: [{ Key: TAG_INSTANCE_ID, Value: 'x-1' }] }] }] })
  mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-2' }] })
  const sleeps: number[] = []
  const provider = createEc2Provider({ client, cluster: 'c', launchTemplateId: 'lt-1', userData: () => '', retry: { sleep: async (ms) => { sleeps.push(ms) } } })
  const listed = await provider.list()
  assert.deepEqual(listed.map((i) => [i.id, i.ref, i.state]), [['x-1', 'i-1', 'running']])
  assert.equal(sleeps.length, 1)
  const out = await provider.launch([{ id: 'y-1', token: 't' }])
  assert.match(out.failed[0]!.error.message, /returned no tagged instance/)
  // Without subnets or types, one placement: the template's own.
  const input = mock.commandCalls(RunInstancesCommand)[0]!.args[0].input
  assert.equal(input.SubnetId, undefined)
  assert.equal(input.InstanceType, undefined)
  assert.throws(() => createEc2Provider({ cluster: '', launchTemplateId: 'lt', userData: () => '' }), { code: 'FED_SCALER_INVALID_CONFIG' })
})
