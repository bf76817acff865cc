import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import pg from 'pg'
import { CliError, EXIT } from '../output.ts'
import { aptInstall, findServer, planInstall } from './install.ts'
import { layoutFor, type Layout } from './layout.ts'
import { probe, type ProbeResult } from './probes.ts'
import { isProcessOf, removeFile, stopProcess } from './process.ts'
import { STARTERS, STOP } from './starters.ts'
import { realSystem, type System } from './system.ts'
import { address, LABELS, targetsFrom, type ServiceKind, type ServicesConfig, type ServiceTarget } from './targets.ts'

/** What federate remembers about a server it started (`<data>/run/<name>.json`). */
export interface StartedState {
  name: string
  kind: ServiceKind
  pid: number
  host: string
  port: number
  dataDir: string | null
  startedAt: string
}

export interface ServiceStatus {
  name: string
  kind: ServiceKind
  label: string
  address: string
  local: boolean
  answering: boolean
  detail: string
  /** 'federate' when a server we started (per its pid file) is alive, 'external' when something else answers. */
  startedBy: 'federate' | 'external' | null
  pid: number | null
  dataDir: string | null
}

export interface UpResult extends ServiceStatus {
  action: 'reused' | 'started' | 'failed'
  error?: string
}

export interface DownResult {
  name: string
  label: string
  action: 'stopped' | 'killed' | 'not running' | 'left alone (external)'
  pid: number | null
  purged: string | null
}

export interface ServicesDeps {
  sys?: System
  report?: (line: string) => void
}

export class ServicesManager {
  readonly layout: Layout
  readonly targets: ServiceTarget[]
  private readonly sys: System
  private readonly report: (line: string) => void

  constructor (private readonly config: ServicesConfig, deps: ServicesDeps = {}) {
    this.layout = layoutFor(config.dataDir)
    this.targets = targetsFrom(config)
    this.sys = deps.sys ?? realSystem
    this.report = deps.report ?? (() => {})
  }

  /** The live state of a server we started, or null (a stale pid file is removed). */
  startedState (t: { name: string, kind: ServiceKind }): StartedState | null {
    const file = this.layout.stateFile(t.name)
    let state: StartedState
    try {
      state = JSON.parse(readFileSync(file, 'utf8')) as StartedState
    } catch {
      return null
    }
    if (isProcessOf(state.pid, STOP[state.kind ?? t.kind].word)) return state
    removeFile(file)
    removeFile(this.layout.pidFile(t.name))
    return null
  }

  private statusOf (t: ServiceTarget, p: ProbeResult): ServiceStatus {
    const mine = this.startedState(t)
    const ours = mine !== null && mine.port === t.port
    return {
      name: t.name,
      kind: t.kind,
      label: LABELS[t.kind],
      address: address(t),
      local: t.local,
      answering: p.answering,
      detail: p.detail,
      startedBy: ours ? 'federate' : p.answering ? 'external' : null,
      pid: ours ? mine.pid : null,
      dataDir: ours && mine.dataDir !== null ? this.layout.show(mine.dataDir) : null,
    }
  }

  async status (): Promise<ServiceStatus[]> {
    return await Promise.all(this.targets.map(async (t) => this.statusOf(t, await probe(t))))
  }

  /**
   * Makes every configured service answer: reuses whatever already does, installs missing
   * servers (root + apt-get) and starts local ones. Idempotent. Throws a CliError (exit 3)
   * naming each service that could not be made reachable, after trying all of them.
   */
  async up (): Promise<UpResult[]> {
    const probes = await Promise.all(this.targets.map(async (t) => ({ t, p: await probe(t) })))
    const results = new Map<string, UpResult>()
    const toStart: ServiceTarget[] = []
    for (const { t, p } of probes) {
      if (p.answering) {
        results.set(t.name, { ...this.statusOf(t, p), action: 'reused' })
      } else if (!t.local) {
        results.set(t.name, this.failed(t, p, `${LABELS[t.kind]} at ${address(t)} does not answer (${p.detail}), and federate starts servers only on this machine's loopback addresses`))
      } else if (p.occupied) {
        results.set(t.name, this.failed(t, p, `${address(t)} is in use by something that does not answer as ${LABELS[t.kind]} (${p.detail}): stop it, or point the setting at another port`))
      } else {
        toStart.push(t)
      }
    }

    // Install missing servers first, all in one apt-get run (dpkg takes one lock anyway).
    const missing = [...new Set(toStart.filter((t) => t.kind !== 's3' && findServer(t.kind, this.sys) === null).map((t) => t.kind as Exclude<ServiceKind, 's3'>))]
    const plan = planInstall(missing, this.sys)
    if (plan.packages.length > 0) {
      try {
        await aptInstall(plan.packages, this.report)
      } catch (err) {
        throw new CliError(`could not install ${plan.packages.join(', ')}: ${(err as Error).message}`, EXIT.UNAVAILABLE, { cause: err })
      }
      // A package's install script may have started its own server on the default port.
      for (const t of [...toStart]) {
        const p = await probe(t)
        if (p.answering) {
          results.set(t.name, { ...this.statusOf(t, p), action: 'reused' })
          toStart.splice(toStart.indexOf(t), 1)
        }
      }
    }

    await Promise.all(toStart.map(async (t) => {
      const started = Date.now()
      this.report(`${t.name}: starting ${LABELS[t.kind]} on ${address(t)}`)
      try {
        const binary = findServer(t.kind, this.sys)
        if (binary === null) throw new Error(`${LABELS[t.kind]} is still not installed`)
        const { pid, dataDir } = await STARTERS[t.kind]({
          target: t,
          layout: this.layout,
          sys: this.sys,
          binary,
          report: this.report,
          s3: { bucket: this.config.s3Bucket, accessKeyId: this.config.s3AccessKeyId, secretAccessKey: this.config.s3SecretAccessKey },
        })
        this.remember({ name: t.name, kind: t.kind, pid, host: t.host, port: t.port, dataDir, startedAt: new Date().toISOString() })
        this.report(`${t.name}: answering on ${address(t)} (pid ${pid}, ${Date.now() - started} ms)`)
        results.set(t.name, { ...this.statusOf(t, await probe(t)), action: 'started' })
      } catch (err) {
        results.set(t.name, this.failed(t, { answering: false, occupied: false, detail: 'not started' }, (err as Error).message))
      }
    }))

    for (const t of this.targets) {
      const r = results.get(t.name)
      if (t.kind === 'postgres' && r?.answering && t.url && await this.ensureDatabase(t.url)) {
        results.set(t.name, { ...r, detail: (await probe(t)).detail })
      }
    }
    const out = this.targets.map((t) => results.get(t.name) as UpResult)
    const failures = out.filter((r) => r.action === 'failed')
    if (failures.length > 0) {
      throw new CliError(failures.map((f) => `${f.name}: ${f.error ?? 'failed'}`).join('\n'), EXIT.UNAVAILABLE)
    }
    return out
  }

  private failed (t: ServiceTarget, p: ProbeResult, error: string): UpResult {
    return { ...this.statusOf(t, p), action: 'failed', error }
  }

  private remember (state: StartedState): void {
    mkdirSync(this.layout.run, { recursive: true })
    writeFileSync(this.layout.pidFile(state.name), `${state.pid}\n`)
    writeFileSync(this.layout.stateFile(state.name), JSON.stringify(state, null, 2) + '\n')
  }

  /** Creates the apps' database when the server answers but it does not exist yet. */
  private async ensureDatabase (url: string): Promise<boolean> {
    const p = await probe({ name: 'postgres', kind: 'postgres', host: '', port: 0, local: true, url })
    if (!p.detail.includes('(3D000)')) return false
    const u = new URL(url)
    const name = decodeURIComponent(u.pathname.slice(1))
    u.pathname = '/postgres'
    const client = new pg.Client({ connectionString: u.toString(), connectionTimeoutMillis: 5000, query_timeout: 10_000 })
    client.on('error', () => {})
    try {
      await client.connect()
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`)
      this.report(`postgres: created database ${name}`)
      return true
    } catch (err) {
      // Another `up` may have won the race; anything else is for `federate migrate` to report.
      if ((err as { code?: string }).code !== '42P04') this.report(`postgres: could not create database ${name}: ${(err as Error).message}`)
      return false
    } finally {
      await client.end().catch(() => {})
    }
  }

  /**
   * Stops every server federate started (per the pid files), whatever the current settings;
   * leaves external ones alone. With `purge`, also deletes their data directories.
   */
  async down ({ purge = false }: { purge?: boolean } = {}): Promise<DownResult[]> {
    const names = new Set(this.targets.map((t) => t.name))
    if (existsSync(this.layout.run)) {
      for (const f of readdirSync(this.layout.run)) if (f.endsWith('.json')) names.add(f.slice(0, -5))
    }
    const results: DownResult[] = []
    await Promise.all([...names].map(async (name) => {
      const target = this.targets.find((t) => t.name === name)
      const kind = target?.kind ?? kindOf(name)
      if (kind === null) return
      const state = this.startedState({ name, kind })
      let action: DownResult['action'] = 'not running'
      if (state !== null) {
        this.report(`${name}: stopping pid ${state.pid}`)
        const how = await stopProcess(state.pid, STOP[kind].signal, 15_000)
        action = how === 'killed' ? 'killed' : 'stopped'
        removeFile(this.layout.stateFile(name))
        removeFile(this.layout.pidFile(name))
      } else if (target !== undefined && (await probe(target)).answering) {
        action = 'left alone (external)'
      }
      let purged: string | null = null
      if (purge) {
        const dirs = [this.layout.dataOf(name), ...(state?.dataDir ? [state.dataDir] : [])]
        for (const dir of new Set(dirs)) {
          if (existsSync(dir)) {
            rmSync(dir, { recursive: true, force: true })
            purged = this.layout.show(dir)
          }
        }
      }
      results.push({ name, label: LABELS[kind], action, pid: state?.pid ?? null, purged })
    }))
    return results.sort((a, b) => a.name.localeCompare(b.name))
  }
}

function kindOf (name: string): ServiceKind | null {
  const stem = name.replace(/-\d+$/, '')
  return stem === 'postgres' || stem === 'redis' || stem === 'memcached' || stem === 's3' ? stem : null
}
