import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify'
import Type from 'typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import {
  StorageError, deletePrompt, listPrompts, listRecordings, manifest, promptDownloadUrl, putPrompt, recordingDownloadUrl,
  storageDefaults, type Prompt, type StorageContext,
} from '@federate/storage'
import type { ApiKeyAuth } from '../auth/api-key-auth.ts'
import { httpError } from '../errors.ts'

/** What the audio routes need: the storage library's context, and a hook after a change. */
export interface AudioStorage {
  context: StorageContext
  /** Called after a prompt was stored or deleted (drops this server's cached manifest version). */
  invalidate?: () => void
}

export interface AudioRoutesOptions {
  auth: ApiKeyAuth
  storage: AudioStorage
}

const HTTP_OF_STORAGE: Record<StorageError['code'], number> = {
  FED_STORAGE_BAD_NAME: 400,
  FED_STORAGE_BAD_AUDIO: 415,
  FED_STORAGE_NOT_FOUND: 404,
  FED_STORAGE_UNAVAILABLE: 503,
  FED_STORAGE_HASH_MISMATCH: 502,
  FED_STORAGE_DOWNLOAD_FAILED: 502,
  FED_STORAGE_SOX_MISSING: 422,
  FED_STORAGE_CONVERT_FAILED: 422,
}

/** A StorageError as a REST error with the same code; anything else unchanged. */
function httpOf (err: unknown): unknown {
  if (err instanceof StorageError) return httpError(HTTP_OF_STORAGE[err.code], err.code, err.message, { cause: err })
  return err
}

async function mapped<T> (fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw httpOf(err)
  }
}

const PromptOut = Type.Object({
  name: Type.String(),
  format: Type.String(),
  sha256: Type.String(),
  size: Type.Integer(),
  durationMs: Type.Integer(),
  path: Type.String({ description: 'where instances install it, relative to the Asterisk sounds directory' }),
  createdAt: Type.String(),
  updatedAt: Type.String(),
})
const Wildcard = Type.Object({ '*': Type.String({ description: 'prompt name, e.g. poll/intro (an audio extension is ignored)' }) })
const Prefix = Type.String({ pattern: '^[A-Za-z0-9_/-]{0,200}$' })
const CallId = Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' })
const Filename = Type.String({ minLength: 1, maxLength: 255, pattern: '^[^/\\\\]+$' })

function promptOut (p: Prompt) {
  return {
    name: p.name,
    format: p.format,
    sha256: p.sha256,
    size: p.size,
    durationMs: p.durationMs,
    path: p.path,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  }
}

/** A wildcard name from the URL; empty (PUT /prompts/) is refused with the expected form. */
function nameOf (params: { '*': string }): string {
  const name = params['*']
  if (name === '') throw httpError(400, 'FED_STORAGE_BAD_NAME', 'the URL names no prompt: use /api/v1/prompts/<name>, e.g. /api/v1/prompts/poll/intro')
  return name
}

/**
 * The prompt library, the manifest and recordings for operators: /api/v1/prompts,
 * /api/v1/manifest, /api/v1/recordings. Prompts are uploaded as the raw bytes of the file
 * (`audio/*` or `application/octet-stream`); Fastify enforces STORAGE_MAX_PROMPT_BYTES on
 * the body before anything is read into the library.
 */
export async function audioRoutes (app: FastifyInstance, opts: AudioRoutesOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const { auth } = opts
  const ctx = opts.storage.context
  const maxBytes = ctx.config?.storageMaxPromptBytes ?? storageDefaults.storageMaxPromptBytes
  const changed = () => opts.storage.invalidate?.()

  // Only these routes take raw bytes (scoped to this plugin): a buffer parser makes Fastify
  // enforce the limit while reading; any other type is refused saying what to send.
  app.removeAllContentTypeParsers()
  const raw = (_request: FastifyRequest, body: Buffer, done: (err: Error | null, body?: Buffer) => void) => { done(null, body) }
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: maxBytes }, raw)
  app.addContentTypeParser(/^audio\/[A-Za-z0-9.+-]+/i, { parseAs: 'buffer', bodyLimit: maxBytes }, raw)
  app.addContentTypeParser('*', (request, _payload, done) => {
    const type = request.headers['content-type']
    done(httpError(415, 'FED_STORAGE_BAD_CONTENT_TYPE',
      `${type ? `content type ${JSON.stringify(type)}` : 'no content type'}: send the file's bytes as audio/* (e.g. audio/wav) or application/octet-stream`))
  })
  app.setErrorHandler((err: FastifyError, request) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const sent = request.headers['content-length']
      throw httpError(413, 'FED_STORAGE_TOO_LARGE',
        `${sent ? `the file is ${sent} bytes` : 'the file is too large'}: prompts are at most ${maxBytes} bytes (STORAGE_MAX_PROMPT_BYTES)`)
    }
    throw err // the parent handler answers as for every other route
  })

  r.put('/prompts/*', {
    // Before the body is read: an unauthenticated client cannot make us buffer an upload.
    onRequest: auth.require('operator'),
    schema: {
      tags: ['audio'],
      summary: 'Upload a prompt: the raw bytes of a WAV (8/16 kHz mono 16-bit PCM) or a headerless GSM/mu-law/a-law/slin file',
      description: 'Body: the file itself (audio/* or application/octet-stream). The format is decided from the bytes; ' +
        'headerless formats need their extension, from the name (`poll/intro.gsm`), `?filename=` or the `X-Filename` header. ' +
        '`?convert=true` converts other audio to 8 kHz WAV with sox (when installed on the server).',
      params: Wildcard,
      querystring: Type.Object({
        convert: Type.Optional(Type.Boolean()),
        filename: Type.Optional(Filename),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({ prompt: PromptOut, changed: Type.Boolean(), version: Type.Integer(), description: Type.String() }),
        201: Type.Object({ prompt: PromptOut, changed: Type.Boolean(), version: Type.Integer(), description: Type.String() }),
      },
    },
  }, async (request, reply) => {
    const name = nameOf(request.params)
    const body = request.body
    if (!Buffer.isBuffer(body) || body.length === 0) {
      throw httpError(400, 'FED_STORAGE_BAD_AUDIO', 'the request body is empty: send the audio file\'s bytes as the body')
    }
    const header = request.headers['x-filename']
    const filename = request.query.filename ?? (typeof header === 'string' && header !== '' ? header : undefined)
    if (filename !== undefined && /[/\\]/.test(filename)) throw httpError(400, 'FED_STORAGE_BAD_NAME', `X-Filename ${JSON.stringify(filename)} must be a file name, not a path`)
    const out = await mapped(async () => await putPrompt(ctx, name, body, { filename, convert: request.query.convert ?? false }))
    if (out.changed) changed()
    reply.code(out.changed ? 201 : 200)
    return { prompt: promptOut(out.prompt), changed: out.changed, version: out.version, description: out.audio.description }
  })

  r.get('/prompts', {
    preHandler: auth.require('viewer'),
    schema: {
      tags: ['audio'],
      summary: 'List prompts, sorted by name; ?prefix=poll/ keeps one folder',
      querystring: Type.Object({ prefix: Type.Optional(Prefix) }, { additionalProperties: false }),
      response: { 200: Type.Array(PromptOut) },
    },
  }, async (request) => (await mapped(async () => await listPrompts(ctx, { prefix: request.query.prefix }))).map(promptOut))

  r.get('/prompts/*', {
    preHandler: auth.require('viewer'),
    schema: {
      tags: ['audio'],
      summary: 'A prompt\'s metadata and a short-lived signed URL to download it',
      params: Wildcard,
      response: { 200: Type.Object({ prompt: PromptOut, url: Type.String(), expiresSec: Type.Integer() }) },
    },
  }, async (request) => {
    const name = nameOf(request.params)
    const out = await mapped(async () => await promptDownloadUrl(ctx, name))
    return { prompt: promptOut(out.prompt), url: out.url, expiresSec: out.expiresSec }
  })

  r.delete('/prompts/*', {
    preHandler: auth.require('operator'),
    schema: {
      tags: ['audio'],
      summary: 'Delete a prompt (instances remove it on their next sync); flows that play it keep their published versions',
      params: Wildcard,
      response: { 204: Type.Null() },
    },
  }, async (request, reply) => {
    const name = nameOf(request.params)
    await mapped(async () => await deletePrompt(ctx, name))
    changed()
    reply.code(204)
    return null
  })

  r.get('/manifest', {
    preHandler: auth.require('viewer'),
    schema: {
      tags: ['audio'],
      summary: 'The audio manifest instances sync from (storage.manifest): full, or the changes after ?since',
      querystring: Type.Object({ since: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647 })) }, { additionalProperties: false }),
    },
  }, async (request) => await mapped(async () => await manifest(ctx, request.query.since)))

  const RecordingOut = Type.Object({
    key: Type.String(),
    callId: Type.String(),
    instanceId: Type.Union([Type.String(), Type.Null()]),
    node: Type.Union([Type.String(), Type.Null()]),
    size: Type.Union([Type.Integer(), Type.Null()]),
    createdAt: Type.String(),
  })

  r.get('/recordings', {
    preHandler: auth.require('viewer'),
    schema: {
      tags: ['audio'],
      summary: 'Call recordings, newest first; ?callId= keeps one call\'s',
      querystring: Type.Object({
        callId: Type.Optional(CallId),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
      }, { additionalProperties: false }),
      response: { 200: Type.Array(RecordingOut) },
    },
  }, async (request) => {
    const list = await mapped(async () => await listRecordings(ctx, { callId: request.query.callId, limit: request.query.limit }))
    return list.map((x) => ({ ...x, createdAt: x.createdAt.toISOString() }))
  })

  r.get('/recordings/download', {
    preHandler: auth.require('viewer'),
    schema: {
      tags: ['audio'],
      summary: 'Download a recording: a 302 to a short-lived signed URL, or {url, expiresSec} with Accept: application/json',
      querystring: Type.Object({ key: Type.String({ minLength: 1, maxLength: 1024, pattern: '^recordings/' }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ url: Type.String(), expiresSec: Type.Integer() }) },
    },
  }, async (request, reply) => {
    const out = await mapped(async () => await recordingDownloadUrl(ctx, request.query.key))
    if ((request.headers.accept ?? '').includes('application/json')) return out
    return await reply.redirect(out.url, 302)
  })
}
