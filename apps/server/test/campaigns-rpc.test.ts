import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import type { ResultOf } from '@federate/protocol'
import { suffix, waitFor } from '@federate/testkit'
import { createXmlRpcClient } from '@federate/xmlrpc'
import { startTestServer } from '../../../test/helpers/server.ts'

const poll = JSON.parse(await readFile(new URL('../../../examples/flows/poll.json', import.meta.url), 'utf8'))
type DialJob = ResultOf<'dialer.next'>[number]

test('a running campaign hands its calls to an instance over XML-RPC, runs its flow, and settles each call.end into stats and the export', async (t) => {
  const s = await startTestServer(t, { FEDERATE_DIALER: 'true', DIALER_PREFIX: `t${suffix()}` })
  const api = async (method: string, path: string, body?: unknown, type = 'application/json') => {
    const res = await fetch(`${s.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${s.adminKey}`, ...(body !== undefined ? { 'content-type': type } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
    return { status: res.status, text: await res.text(), headers: res.headers }
  }
  assert.equal((await api('POST', '/flows', { id: 'poll', definition: poll })).status, 201)
  const created = await api('POST', '/campaigns', {
    id: 'vote', name: 'Vote', flowId: 'poll', callerId: '+15550001111', rateCps: 50, maxConcurrent: 10, window: { start: '00:00', end: '24:00' },
  })
  assert.equal(created.status, 201, created.text)
  const csv = 'phone,tz,first\n+12125550101,UTC,Ann\n+12125550102,UTC,Bob\n+12125550103,UTC,Cat\n'
  assert.equal(JSON.parse((await api('POST', '/campaigns/vote/contacts', csv, 'text/csv')).text).imported, 3)
  assert.equal((await api('POST', '/campaigns/vote/start')).status, 200)

  const rpc = createXmlRpcClient({ url: s.rpcUrl, token: await s.tokenFor('ast-1') })
  t.after(() => rpc.close())
  // The dispatcher runs every 200 ms; poll as an agent would until all three are leased.
  const jobs: DialJob[] = []
  await waitFor(async () => {
    jobs.push(...await rpc.call('dialer.next', { instanceId: 'ast-1', free: 5 }))
    return jobs.length >= 3
  }, { timeoutMs: 5000, intervalMs: 100, what: 'three dial jobs' })
  assert.equal(jobs.length, 3)
  assert.deepEqual(jobs.map((j) => j.to).sort(), ['+12125550101', '+12125550102', '+12125550103'])
  for (const j of jobs) {
    assert.equal(j.campaignId, 'vote')
    assert.equal(j.from, '+15550001111')
    assert.equal(j.flowRef, 'poll@1')
    assert.match(j.callId, /^dial-/)
  }
  assert.deepEqual(await rpc.call('dialer.next', { instanceId: 'ast-1', free: 5 }), [], 'each contact is leased once')
  const [machine, human, busy] = jobs.sort((a, b) => a.to.localeCompare(b.to)) as [DialJob, DialJob, DialJob]
  assert.deepEqual({ ...machine.vars }, { first: 'Ann' }, 'the contact\'s CSV columns travel with the job')

  // An answering machine: the flow starts with amd, plays its message, hangs up.
  const step = async (job: DialJob, state: string | undefined, event: string, data: Record<string, string> = {}) =>
    await rpc.call('call.step', { callId: job.callId, instanceId: 'ast-1', ...(state ? { state } : {}), event: event as 'start', data, channel: { extension: job.to } })
  let r = await step(machine, undefined, 'start')
  assert.equal(r.action, 'amd')
  r = await step(machine, r.state, 'amd', { status: 'MACHINE' })
  assert.equal(r.action, 'play')
  assert.deepEqual((r.args as { prompts: string[] }).prompts, ['poll/machine'])
  r = await step(machine, r.state, 'played')
  assert.equal(r.action, 'hangup')
  assert.equal((await rpc.call('call.end', { callId: machine.callId, instanceId: 'ast-1', state: r.state, cause: '16', durationSec: 12, billSec: 10 })).ok, true)

  // A person who votes 2.
  r = await step(human, undefined, 'start')
  r = await step(human, r.state, 'amd', { status: 'HUMAN' })
  assert.equal(r.action, 'gather')
  r = await step(human, r.state, 'digits', { digits: '2', status: 'ok' })
  r = await step(human, r.state, 'played')
  assert.equal(r.action, 'hangup')
  await rpc.call('call.end', { callId: human.callId, instanceId: 'ast-1', state: r.state, cause: '16', durationSec: 30, billSec: 28 })

  // An originate that failed busy: no step at all, only call.end.
  await rpc.call('call.end', { callId: busy.callId, instanceId: 'ast-1', cause: 'BUSY', durationSec: 0, billSec: 0 })
  // A resend changes nothing.
  await rpc.call('call.end', { callId: busy.callId, instanceId: 'ast-1', cause: 'BUSY', durationSec: 0, billSec: 0 })

  const stats = JSON.parse((await api('GET', '/campaigns/vote/stats')).text)
  assert.equal(stats.attempts, 3)
  assert.equal(stats.dialled, 3)
  assert.equal(stats.outcomes.machine, 1)
  assert.equal(stats.outcomes.answered, 1)
  assert.equal(stats.outcomes.busy, 1)
  assert.equal(stats.answerRate, 1 / 3)
  assert.equal(stats.concurrent, 0)
  assert.equal(stats.cps, 3 / stats.windowSec)
  assert.deepEqual(stats.results.filter((x: { key: string }) => x.key === 'vote'), [{ node: 'vote', key: 'vote', value: '2', count: 1 }])
  assert.equal(stats.contacts.done, 2)
  assert.equal(stats.contacts.pending, 1, 'the busy contact waits for its retry')
  const retry = await s.deps.pool.query('SELECT attempts, next_attempt_at > now() + interval \'250 seconds\' AS later FROM contacts WHERE phone_e164 = $1', [busy.to])
  assert.deepEqual(retry.rows[0], { attempts: 1, later: true }, 'rescheduled by the busy rule (300 s)')

  const exp = await api('GET', '/campaigns/vote/export')
  assert.equal(exp.status, 200)
  assert.match(exp.headers.get('content-type') ?? '', /^text\/csv/)
  assert.equal(exp.headers.get('content-disposition'), 'attachment; filename="campaign-vote.csv"')
  const lines = exp.text.trim().split('\n')
  assert.equal(lines.length, 4)
  const header = lines[0]!.split(',')
  assert.ok(header.includes('outcome') && header.includes('call_id') && header.includes('results'), lines[0])
  const byCall = (callId: string) => lines.find((l) => l.startsWith(`${callId.slice(5)},${callId},`) || l.includes(`,${callId},`))
  assert.match(byCall(machine.callId) ?? '', /,machine,16,MACHINE,12,10,/)
  assert.match(byCall(busy.callId) ?? '', /,busy,BUSY,/)
  assert.match(byCall(human.callId) ?? '', /""vote\.vote"": ?""2""/)
})
