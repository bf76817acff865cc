// The dashboard page: sign in with an API key, then follow the server's event stream.
import { api, AuthError, openStream, session } from './api.js'
import { timeChart } from './charts.js'
import { fmt, renderCampaigns, renderDecisions, renderFleet, renderTiles } from './views.js'

const $ = (id) => document.getElementById(id)
const HISTORY_SEC = 600
const MAX_CAMPAIGN_LINES = 5

let me = null
let closeStream = null
let samples = []
let latest = null
const pending = new Set()
const charts = { cps: timeChart($('chart-cps')), calls: timeChart($('chart-calls')), instances: timeChart($('chart-instances')) }

function setStatus (state, text) {
  Object.assign($('status'), { textContent: text ?? state })
  $('status').dataset.state = state
}

function notice (text) {
  $('notice').textContent = text ?? ''
  $('notice').hidden = !text
}

function showLogin (message = '') {
  closeStream?.()
  closeStream = null
  me = null
  session.clear()
  $('dashboard-view').hidden = true
  $('login-view').hidden = false
  $('logout').hidden = true
  $('who').textContent = ''
  $('login-error').textContent = message
  setStatus('idle', 'signed out')
  $('api-key').focus()
}

function showDashboard () {
  $('login-view').hidden = true
  $('dashboard-view').hidden = false
  $('logout').hidden = false
  $('who').textContent = `${me.name} · ${me.role}`
  setStatus('connecting', 'connecting…')
  closeStream = openStream({
    onSnapshot: render,
    onState: (state) => { if (state === 'reconnecting') setStatus('reconnecting', 'reconnecting…') },
    onAuthLost: (reason) => showLogin(`Signed out: ${reason}`),
  })
}

async function signIn (key) {
  me = await api('/session', { method: 'POST', key })
  session.save(key)
  showDashboard()
}

/** Campaign lines for the plots: the busiest campaigns of the kept history (the total is always drawn). */
function campaignLines (pick) {
  const names = new Map(latest.campaigns.rows.map((c) => [c.id, c.name]))
  const peak = new Map()
  for (const s of samples) {
    for (const [id, v] of Object.entries(s.campaigns)) if (id !== '') peak.set(id, Math.max(peak.get(id) ?? 0, v.concurrent + v.cps))
  }
  return [...peak].sort((a, b) => b[1] - a[1]).slice(0, MAX_CAMPAIGN_LINES)
    .map(([id]) => ({ label: names.get(id) ?? id, value: (s) => (s.campaigns[id] ? pick(s.campaigns[id]) : 0) }))
}

function render (s) {
  latest = s
  if (s.history) samples = s.history
  else samples.push(s.sample)
  while (samples.length > 0 && samples[0].t < s.sample.t - HISTORY_SEC) samples.shift()

  setStatus(s.error ? 'stale' : 'live', s.error ? 'stale' : 'live')
  notice(s.error)
  renderTiles(s)
  renderCampaigns($('campaigns').tBodies[0], s.campaigns, { canControl: me.canControlCampaigns, pending })
  renderFleet($('fleet').tBodies[0], s.fleet)
  renderDecisions($('decisions').tBodies[0], s.decisions)
  charts.cps.update(samples, [{ label: 'All', value: (x) => x.cps }, ...campaignLines((c) => c.cps)])
  charts.calls.update(samples, [{ label: 'All', value: (x) => x.calls }, ...campaignLines((c) => c.concurrent)])
  charts.instances.update(samples, [
    { label: 'Ready', value: (x) => x.instances.ready },
    { label: 'Starting', value: (x) => x.instances.starting },
    { label: 'Draining', value: (x) => x.instances.draining },
  ])
  $('updated').textContent = `Updated ${fmt.clock(s.at)} · every ${fmt.num(s.intervalMs / 1000)} s` +
    (s.metrics.windowSec ? ` · cache and latency over the last ${Math.round(s.metrics.windowSec)} s` : '')
}

// Pause and resume go through the dialer's REST routes, with the operator's own key.
$('campaigns').addEventListener('click', async (e) => {
  const button = e.target.closest('button[data-action]')
  if (!button) return
  const { id, action } = button.dataset
  pending.add(id)
  button.disabled = true
  try {
    await api(`/campaigns/${encodeURIComponent(id)}/${action}`, { method: 'POST' })
    notice(null)
  } catch (err) {
    if (err instanceof AuthError) return showLogin(err.message)
    notice(`Could not ${action} ${id}: ${err.message}`)
  } finally {
    pending.delete(id)
    button.disabled = false
  }
})

$('login-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const key = $('api-key').value.trim()
  $('login-error').textContent = ''
  try {
    await signIn(key)
    $('api-key').value = ''
  } catch (err) {
    $('login-error').textContent = err instanceof AuthError ? 'That key was refused (unknown or revoked).' : `Could not sign in: ${err.message}`
  }
})

$('logout').addEventListener('click', () => showLogin())

if (session.key) signIn(session.key).catch((err) => showLogin(err instanceof AuthError ? '' : err.message))
else showLogin()
