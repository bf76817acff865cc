// Talking to the app server: the API key lives in sessionStorage (this tab only) and goes in a
// bearer header; the event stream, which cannot send headers, opens with a one-time ticket.
/* global EventSource */

const STORAGE_KEY = 'federate.apiKey'

export class AuthError extends Error {}

export const session = {
  get key () { return sessionStorage.getItem(STORAGE_KEY) },
  save (key) { sessionStorage.setItem(STORAGE_KEY, key) },
  clear () { sessionStorage.removeItem(STORAGE_KEY) },
}

/** Calls /api/v1<path> with the key; throws AuthError on 401, Error with the server's message otherwise. */
export async function api (path, { method = 'GET', key = session.key } = {}) {
  const res = await fetch(`/api/v1${path}`, { method, headers: { authorization: `Bearer ${key}` }, cache: 'no-store' })
  const body = await res.json().catch(() => null)
  if (res.status === 401) throw new AuthError(body?.message ?? 'the API key was refused')
  if (!res.ok) throw new Error(body?.message ?? `${method} ${path}: HTTP ${res.status}`)
  return body
}

/**
 * Keeps an event stream open: a new ticket for every connection, reconnecting with a growing
 * delay (1 s to 15 s). Calls onSnapshot with each snapshot, onState with 'live' | 'reconnecting',
 * onAuthLost when the key stops working. Returns a function that closes it.
 */
export function openStream ({ onSnapshot, onState, onAuthLost }) {
  let source
  let retry
  let delay = 1000
  let stopped = false

  const again = () => {
    onState('reconnecting')
    retry = setTimeout(connect, delay)
    delay = Math.min(delay * 2, 15_000)
  }

  async function connect () {
    if (stopped) return
    let ticket
    try {
      ({ ticket } = await api('/dashboard/ticket', { method: 'POST' }))
    } catch (err) {
      if (err instanceof AuthError) return onAuthLost(err.message)
      return again()
    }
    if (stopped) return
    source = new EventSource(`/api/v1/dashboard/stream?ticket=${encodeURIComponent(ticket)}`)
    source.addEventListener('snapshot', (e) => {
      delay = 1000
      onState('live')
      onSnapshot(JSON.parse(e.data))
    })
    source.addEventListener('logout', (e) => {
      stopped = true
      source.close()
      onAuthLost(JSON.parse(e.data).reason)
    })
    // A ticket is good once, so the browser's own reconnect would fail: reconnect ourselves.
    source.onerror = () => {
      source.close()
      if (!stopped) again()
    }
  }

  connect()
  return () => {
    stopped = true
    clearTimeout(retry)
    source?.close()
  }
}
