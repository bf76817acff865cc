import type { FastifyInstance } from 'fastify'
import Type from 'typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { API_KEY_ROLES, createApiKey, instances, issueInstanceToken, listApiKeys, revokeApiKey, revokeInstanceTokens, type Queryable } from '@federate/db'
import { httpError } from '../errors.ts'
import type { ApiKeyAuth } from '../auth/api-key-auth.ts'

const Id = Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' })

/** API keys and instance tokens (admin only), and the fleet as the tier sees it (viewer). */
export async function adminRoutes (app: FastifyInstance, opts: { db: Queryable, auth: ApiKeyAuth, onRevoke: () => void }): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>()
  const { db, auth } = opts

  r.post('/keys', {
    preHandler: auth.require('admin'),
    schema: {
      tags: ['admin'],
      summary: 'Create an API key (the key is shown once)',
      body: Type.Object({ role: Type.Union(API_KEY_ROLES.map((x) => Type.Literal(x))), name: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
      response: { 201: Type.Object({ id: Type.String(), key: Type.String(), role: Type.String(), name: Type.String() }) },
    },
  }, async (request, reply) => {
    reply.code(201)
    return await createApiKey(db, request.body.role, request.body.name)
  })

  r.get('/keys', {
    preHandler: auth.require('admin'),
    schema: {
      tags: ['admin'],
      summary: 'List API keys (never the keys themselves)',
      response: { 200: Type.Array(Type.Object({ id: Type.String(), role: Type.String(), name: Type.String(), createdAt: Type.String(), revoked: Type.Boolean() })) },
    },
  }, async () => (await listApiKeys(db)).map((k) => ({ id: k.id, role: k.role, name: k.name, createdAt: k.createdAt.toISOString(), revoked: k.revokedAt !== null })))

  r.delete('/keys/:id', {
    preHandler: auth.require('admin'),
    schema: { tags: ['admin'], summary: 'Revoke an API key', params: Type.Object({ id: Id }), response: { 204: Type.Null() } },
  }, async (request, reply) => {
    if (!await revokeApiKey(db, request.params.id)) throw httpError(404, 'FED_API_NOT_FOUND', `key ${request.params.id} not found`)
    opts.onRevoke()
    reply.code(204)
    return null
  })

  r.post('/instances/:id/token', {
    preHandler: auth.require('admin'),
    schema: {
      tags: ['instances'],
      summary: 'Issue a token for an instance (shown once)',
      params: Type.Object({ id: Id }),
      response: { 201: Type.Object({ instanceId: Type.String(), token: Type.String() }) },
    },
  }, async (request, reply) => {
    reply.code(201)
    return { instanceId: request.params.id, token: await issueInstanceToken(db, request.params.id) }
  })

  r.delete('/instances/:id/token', {
    preHandler: auth.require('admin'),
    schema: { tags: ['instances'], summary: 'Revoke every token of an instance', params: Type.Object({ id: Id }), response: { 200: Type.Object({ revoked: Type.Integer() }) } },
  }, async (request) => {
    const revoked = await revokeInstanceTokens(db, request.params.id)
    opts.onRevoke()
    return { revoked }
  })

  r.get('/instances', {
    preHandler: auth.require('viewer'),
    schema: { tags: ['instances'], summary: 'The fleet: every instance the tier knows, with its state and load' },
  }, async () => await instances.list(db))
}
