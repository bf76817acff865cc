import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { flows as flowsRepo, numbers as numbersRepo, DbError, type Queryable } from '@federate/db'
import { httpError } from '../errors.ts'
import type { ApiKeyAuth } from '../auth/api-key-auth.ts'
import type { FlowSource } from '../flow-source.ts'
import { FlowRejectedError, publishFlow } from '../flow-publisher.ts'

const FlowId = Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' })
const NumberParam = Type.String({ pattern: '^[A-Za-z0-9+*#_.:-]{1,64}$' })
const FlowSummary = Type.Object({ id: Type.String(), name: Type.String(), createdAt: Type.String(), latestVersion: Type.Union([Type.Integer(), Type.Null()]) })
const VersionOut = Type.Object({ flowId: Type.String(), version: Type.Integer(), sha256: Type.String(), createdAt: Type.String(), definition: Type.Optional(Type.Unknown()) })
const Binding = Type.Object({ number: Type.String(), flowId: Type.String(), version: Type.Union([Type.Integer(), Type.Null()]), updatedAt: Type.String() })

export interface FlowRoutesOptions {
  db: Queryable
  auth: ApiKeyAuth
  flows: FlowSource
  /** Prompt names that do not exist in the audio library (absent: not checked). */
  missingPrompts?: (names: string[]) => Promise<string[]>
}

function notFound (what: string): Error {
  return httpError(404, 'FED_API_NOT_FOUND', `${what} not found`)
}

/** Flows (immutable versions) and the numbers bound to them: /api/v1/flows, /api/v1/numbers. */
export async function flowRoutes (app: FastifyInstance, opts: FlowRoutesOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const { db, auth } = opts

  r.get('/flows', {
    preHandler: auth.require('viewer'),
    schema: { tags: ['flows'], summary: 'List flows', response: { 200: Type.Array(FlowSummary) } },
  }, async () => {
    return (await flowsRepo.list(db)).map((f) => ({
      id: f.id, name: f.name, createdAt: f.createdAt.toISOString(), latestVersion: f.latestVersion || null,
    }))
  })

  r.post('/flows', {
    preHandler: auth.require('operator'),
    schema: {
      tags: ['flows'],
      summary: 'Publish a flow as a new version (creating the flow if needed), optionally binding numbers to it',
      body: Type.Object({
        id: FlowId,
        name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        definition: Type.Unknown(),
        numbers: Type.Optional(Type.Array(NumberParam, { maxItems: 100 })),
      }, { additionalProperties: false }),
      response: { 201: Type.Object({ flowId: Type.String(), version: Type.Integer(), sha256: Type.String(), numbers: Type.Array(Type.String()) }) },
    },
  }, async (request, reply) => {
    const { id, name, definition, numbers } = request.body
    try {
      const published = await publishFlow(db, opts.flows, definition, { id, name, numbers, missingPrompts: opts.missingPrompts })
      reply.code(201)
      return published
    } catch (err) {
      if (err instanceof FlowRejectedError) throw Object.assign(httpError(422, err.code, err.message), { issues: err.issues })
      throw err
    }
  })

  r.get('/flows/:id', {
    preHandler: auth.require('viewer'),
    schema: { tags: ['flows'], summary: 'A flow\'s latest version', params: Type.Object({ id: FlowId }), response: { 200: VersionOut } },
  }, async (request) => {
    const v = await flowsRepo.getLatest(db, request.params.id)
    if (v === null) throw notFound(`flow ${request.params.id}`)
    return { flowId: v.flowId, version: v.version, sha256: v.sha256, createdAt: v.createdAt.toISOString(), definition: v.definition }
  })

  r.get('/flows/:id/versions/:version', {
    preHandler: auth.require('viewer'),
    schema: {
      tags: ['flows'],
      summary: 'One version of a flow',
      params: Type.Object({ id: FlowId, version: Type.Integer({ minimum: 1, maximum: 2147483647 }) }),
      response: { 200: VersionOut },
    },
  }, async (request) => {
    const v = await flowsRepo.getVersion(db, request.params.id, request.params.version)
    if (v === null) throw notFound(`flow ${request.params.id} version ${request.params.version}`)
    return { flowId: v.flowId, version: v.version, sha256: v.sha256, createdAt: v.createdAt.toISOString(), definition: v.definition }
  })

  r.get('/numbers', {
    preHandler: auth.require('viewer'),
    schema: { tags: ['numbers'], summary: 'List number bindings', response: { 200: Type.Array(Binding) } },
  }, async () => (await numbersRepo.list(db)).map((b) => ({ ...b, updatedAt: b.updatedAt.toISOString() })))

  r.put('/numbers/:number', {
    preHandler: auth.require('operator'),
    schema: {
      tags: ['numbers'],
      summary: 'Bind a dialled number to a flow (a pinned version, or the latest when version is omitted)',
      params: Type.Object({ number: NumberParam }),
      body: Type.Object({ flowId: FlowId, version: Type.Optional(Type.Integer({ minimum: 1, maximum: 2147483647 })) }, { additionalProperties: false }),
      response: { 200: Binding },
    },
  }, async (request) => {
    try {
      const b = await numbersRepo.bind(db, request.params.number, request.body.flowId, request.body.version ?? null)
      await opts.flows.invalidateRoutes([b.number])
      return { ...b, updatedAt: b.updatedAt.toISOString() }
    } catch (err) {
      if (err instanceof DbError && err.code === 'FED_DB_NOT_FOUND') throw notFound(`flow ${request.body.flowId}${request.body.version ? ` version ${request.body.version}` : ''}`)
      throw err
    }
  })

  r.delete('/numbers/:number', {
    preHandler: auth.require('operator'),
    schema: { tags: ['numbers'], summary: 'Unbind a number', params: Type.Object({ number: NumberParam }), response: { 204: Type.Null() } },
  }, async (request, reply) => {
    if (!await numbersRepo.unbind(db, request.params.number)) throw notFound(`number ${request.params.number}`)
    await opts.flows.invalidateRoutes([request.params.number])
    reply.code(204)
    return null
  })
}
