// Rendering the snapshot into the page. Text only goes through textContent: names come from the
// database and are never parsed as HTML.

/** A DOM element: h('td', { className: 'num' }, 'text', child, ...). */
export function h (tag, props = {}, ...children) {
  const el = Object.assign(document.createElement(tag), props)
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c)
  return el
}

const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 })
const tf = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })
export const fmt = {
  /** A time of day, 24-hour, from unix seconds or an ISO string. */
  clock: (t) => tf.format(typeof t === 'number' ? t * 1000 : Date.parse(t)),
  num: (n) => (n === null || n === undefined ? '–' : nf.format(n)),
  pct: (x) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(x > 0.999 || x < 0.001 ? 0 : 1)}%`),
  ms: (x) => (x === null || x === undefined ? '–' : x < 10 ? `${x.toFixed(2)} ms` : `${Math.round(x)} ms`),
  age: (sec) => (sec === null || sec === undefined ? 'never' : sec < 90 ? `${Math.round(sec)} s ago` : sec < 5400 ? `${Math.round(sec / 60)} min ago` : `${Math.round(sec / 3600)} h ago`),
}

const badge = (text, kind = text) => h('span', { className: `badge badge-${kind}` }, text)

function bar (value, max) {
  const p = h('progress', { max: Math.max(1, max), value: Math.min(value, Math.max(1, max)) })
  p.setAttribute('aria-label', `${value} of ${max}`)
  return p
}

function labelled (label, td) {
  td.dataset.label = label
  return td
}

function emptyRow (tbody, columns, text) {
  tbody.replaceChildren(h('tr', {}, h('td', { colSpan: columns, className: 'empty' }, text)))
}

export function renderTiles (s) {
  const set = (id, text) => { document.getElementById(id).textContent = text }
  const ready = s.sample.instances.ready
  set('t-active', fmt.num(s.calls.active))
  set('t-cps', fmt.num(s.calls.cps))
  set('t-ended', s.calls.endedLastMinute === null ? '–' : fmt.num(s.calls.endedLastMinute))
  set('t-ready', s.fleet.available ? `${ready} / ${s.fleet.rows.filter((i) => i.state !== 'terminated').length}` : '–')
  set('t-cache', fmt.pct(s.metrics.cache.hitRatio))
  set('t-latency', s.metrics.steps.p50Ms === null ? '–' : `${fmt.ms(s.metrics.steps.p50Ms)} / ${fmt.ms(s.metrics.steps.p99Ms)}`)
}

const OUTCOMES = ['answered', 'machine', 'busy', 'noanswer', 'failed', 'lost']

export function renderCampaigns (tbody, section, { canControl, pending }) {
  if (!section.available) return emptyRow(tbody, 7, 'No campaigns table in this database.')
  if (section.rows.length === 0) return emptyRow(tbody, 7, 'No campaigns yet.')
  tbody.replaceChildren(...section.rows.map((c) => {
    const total = c.contacts ? Object.values(c.contacts).reduce((a, b) => a + b, 0) : 0
    const finished = c.contacts ? (c.contacts.done ?? 0) + (c.contacts.failed ?? 0) : 0
    const outcomes = c.outcomes
      ? OUTCOMES.filter((o) => c.outcomes[o]).map((o) => h('span', { className: `chip chip-${o}`, title: o }, `${o} ${fmt.num(c.outcomes[o])}`))
      : []
    const action = c.status === 'running' ? 'pause' : c.status === 'paused' ? 'resume' : null
    const button = canControl && action
      ? h('button', { type: 'button', className: 'small', disabled: pending.has(c.id), textContent: action === 'pause' ? 'Pause' : 'Resume' })
      : null
    if (button) Object.assign(button.dataset, { id: c.id, action })
    // data-label names the value where a phone shows the row as a card (no header row).
    return h('tr', {},
      h('td', {}, h('div', { className: 'name' }, c.name), h('div', { className: 'muted mono' }, c.id)),
      labelled('Status', h('td', {}, badge(c.status))),
      labelled('Progress', h('td', { className: 'progress-cell' }, bar(finished, total), h('span', { className: 'muted' }, c.progress === null ? '–' : `${fmt.pct(c.progress)} of ${fmt.num(total)}`))),
      labelled('Calls/s', h('td', { className: 'num' }, `${fmt.num(c.cps)} / ${fmt.num(c.rateCps)}`)),
      labelled('Concurrent', h('td', { className: 'num' }, `${fmt.num(c.concurrent)} / ${fmt.num(c.maxConcurrent)}`)),
      labelled('Outcomes', h('td', {}, h('div', { className: 'chips' }, ...(outcomes.length ? outcomes : ['–'])))),
      h('td', { className: 'actions' }, button)
    )
  }))
}

export function renderFleet (tbody, section) {
  if (!section.available) return emptyRow(tbody, 5, 'No instances table in this database.')
  if (section.rows.length === 0) return emptyRow(tbody, 5, 'No instances.')
  tbody.replaceChildren(...section.rows.map((i) => {
    const late = i.state !== 'terminated' && (i.heartbeatAgeSec === null || i.heartbeatAgeSec > 30)
    return h('tr', { className: i.state === 'terminated' ? 'dim' : '' },
      h('td', { className: 'mono' }, i.id),
      h('td', {}, badge(i.state)),
      h('td', { className: 'load' }, bar(i.activeCalls, i.capacity), h('span', {}, `${i.activeCalls} / ${i.capacity}`)),
      h('td', { className: 'num' }, String(i.manifestVersion)),
      h('td', { className: `num ${late ? 'warn' : ''}` }, fmt.age(i.heartbeatAgeSec))
    )
  }))
}

export function renderDecisions (tbody, section) {
  if (!section.available) return emptyRow(tbody, 5, 'The controller has not recorded decisions in this database.')
  if (section.rows.length === 0) return emptyRow(tbody, 5, 'No scaling decisions yet.')
  tbody.replaceChildren(...section.rows.map((d) => {
    const row = h('tr', {},
      h('td', { className: 'nowrap' }, fmt.clock(d.at)),
      h('td', {}, badge(d.action.replace('_', ' '), d.action), h('div', { className: 'muted mono' }, d.code)),
      h('td', { className: 'num' }, d.observed === d.desired ? String(d.desired) : `${d.observed} → ${d.desired}`),
      h('td', { className: 'num' }, fmt.num(d.load)),
      h('td', { className: 'reason' }, d.reason, d.instanceIds.length ? h('div', { className: 'muted mono' }, d.instanceIds.join(', ')) : null)
    )
    row.title = `decided by ${d.controllerId}`
    return row
  }))
}
