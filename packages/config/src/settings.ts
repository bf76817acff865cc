import type { Static, TSchema } from 'typebox'
import { Compile } from 'typebox/compile'

/** One configuration value: where it comes from, its type, its default and what it is for. */
export interface Setting<T extends TSchema = TSchema> {
  env: string
  schema: T
  default?: Static<T>
  description: string
  /** Never printed (logs, `config show`). */
  secret?: boolean
}

export type SettingsSpec = Record<string, Setting>
export type ConfigOf<S extends SettingsSpec> = { readonly [K in keyof S]: S[K] extends Setting<infer T> ? Static<T> : never }

export class ConfigError extends Error {
  readonly code = 'FED_CONFIG_INVALID'
  constructor (readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
  }
}

/** Type-checks a spec literal while keeping its exact keys and schemas. */
export function defineSettings<S extends SettingsSpec> (spec: S): S {
  return spec
}

// Environment values are strings: turn them into what the schema asks for before checking.
function coerce (schema: TSchema, raw: string): unknown {
  const type = (schema as { type?: string }).type
  if (type === 'integer' || type === 'number') return raw.trim() === '' ? raw : Number(raw)
  if (type === 'boolean') {
    if (/^(1|true|yes|on)$/i.test(raw)) return true
    if (/^(0|false|no|off)$/i.test(raw)) return false
    return raw
  }
  if (type === 'array') return raw.split(',').map((s) => s.trim()).filter(Boolean)
  return raw
}

/**
 * Reads every setting once: the environment wins over the file, the file over the default.
 * Throws a ConfigError naming each variable that is missing or wrong; the result is frozen.
 */
export function loadConfig<S extends SettingsSpec> (
  spec: S,
  sources: { env?: Record<string, string | undefined>, file?: Record<string, unknown> } = {}
): ConfigOf<S> {
  const env = sources.env ?? process.env
  const file = sources.file ?? {}
  const out: Record<string, unknown> = {}
  const problems: string[] = []
  for (const [key, setting] of Object.entries(spec)) {
    const raw = env[setting.env]
    let value: unknown
    // An empty value is a value for strings and lists (MEMCACHED_SERVERS= turns the cache off),
    // and "not set" for numbers and switches.
    const type = (setting.schema as { type?: string }).type
    const given = raw !== undefined && (raw !== '' || type === 'string' || type === 'array')
    if (given) value = coerce(setting.schema, raw)
    else if (key in file) value = file[key]
    else if (setting.env in file) value = file[setting.env]
    else value = setting.default
    if (value === undefined) {
      problems.push(`${setting.env} is required: ${setting.description}`)
      continue
    }
    const check = Compile(setting.schema)
    if (!check.Check(value)) {
      const first = [...check.Errors(value)][0]
      const shown = setting.secret ? '(hidden)' : JSON.stringify(raw ?? value)
      problems.push(`${setting.env} ${first?.message ?? 'is invalid'} (got ${shown}): ${setting.description}`)
      continue
    }
    out[key] = value
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return Object.freeze(out) as ConfigOf<S>
}

/** The settings as a Markdown table, for READMEs and `--help`. */
export function settingsTable (spec: SettingsSpec): string {
  const rows = Object.values(spec).map((s) =>
    `| \`${s.env}\` | ${s.secret ? '(secret)' : s.default === undefined ? '(required)' : `\`${JSON.stringify(s.default)}\``} | ${s.description} |`)
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n')
}

/** A copy of a config safe to log: secrets replaced. */
export function redacted<S extends SettingsSpec> (spec: S, config: ConfigOf<S>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, spec[k]?.secret ? '[redacted]' : v]))
}
