import pino, { type DestinationStream, type Logger } from 'pino'

// Two layers keep secrets out of the logs: pino's redact (compiled paths, cheap) for fields that
// hold a secret whatever its value, and a text scrub for secrets inside strings (an error
// message quoting a connection string, a URL with ?token=, a bearer header pasted in a message).
// The scrub runs on the message and on serialized errors only: hot paths do not log per request.

const SECRET_KEYS = ['authorization', 'cookie', 'token', 'key', 'apiKey', 'adminKey', 'secret', 'password', 'databaseUrl', 'redisUrl', 's3SecretAccessKey', 's3AccessKeyId']

/** Fields redacted wherever they sit at the top level or one level down, plus request and response headers. */
export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]',
  'headers.authorization', 'headers.cookie', 'headers["x-api-key"]',
  'res.headers["set-cookie"]',
  ...SECRET_KEYS.flatMap((k) => [k, `*.${k}`]),
]

const PATTERNS: Array<[RegExp, string]> = [
  // scheme://user:password@host -> scheme://user:[redacted]@host (postgres, redis, amqp, http...)
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@'"]*):[^\s@/'"]*@/gi, '$1:[redacted]@'],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 [redacted]'],
  // Our own credentials: fed_<id>_<secret> (API keys), fit_<id>_<secret> (instance tokens); the id may stay.
  [/\b(fed|fit)_([0-9a-f]{16})_[A-Za-z0-9_-]{20,}/g, '$1_$2_[redacted]'],
  [/([?&](?:token|key|api_key|apikey|secret|password|signature|X-Amz-Signature|X-Amz-Credential)=)[^&\s'"]+/gi, '$1[redacted]'],
]

/** The text with connection-string passwords, bearer credentials, API keys and secret query parameters replaced. */
export function scrubSecrets (text: string): string {
  let out = text
  for (const [re, to] of PATTERNS) out = out.replace(re, to)
  return out
}

function scrubValues (value: unknown, depth: number): unknown {
  if (typeof value === 'string') return scrubSecrets(value)
  if (depth <= 0 || typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return value.map((v) => scrubValues(v, depth - 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = scrubValues(v, depth - 1)
  return out
}

const errSerializer = (err: Error): unknown => scrubValues(pino.stdSerializers.err(err), 3)
const reqUrl = (req: { url?: unknown }) => typeof req?.url === 'string' ? { ...req, url: scrubSecrets(req.url) } : req

/**
 * The server's logger: JSON lines at `level`, with credentials and connection-string passwords
 * redacted. `destination` is for tests that read what was written.
 */
export function createLogger (opts: { level: string }, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level,
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    serializers: { err: errSerializer, error: errSerializer },
    formatters: {
      // Request lines carry the URL, which may hold a token in its query string.
      log: (object) => object.req !== undefined && typeof object.req === 'object' ? { ...object, req: reqUrl(object.req as { url?: unknown }) } : object,
    },
    hooks: {
      logMethod (args, method) {
        for (let i = 0; i < args.length; i++) if (typeof args[i] === 'string') args[i] = scrubSecrets(args[i] as string)
        method.apply(this, args as Parameters<typeof method>)
      },
    },
  }
  return destination === undefined ? pino(options) : pino(options, destination)
}
