import http from 'node:http'
import type { TestContext } from 'node:test'
import { suffix } from '@federate/testkit'
import { startTestServer, type TestServer } from '../../../test/helpers/server.ts'

// What the audio tests share: a real app server with storage on (S3 = an s3rver the test file
// starts, a bucket of its own per server), and an HTTP helper that sends paths exactly as
// written (fetch would resolve `..` before sending).

export { startS3rver } from '../../../packages/storage/test/helpers.ts'
export { wav, gsm, ulaw } from '../../../packages/storage/test/fixtures.ts'

export async function startStorageServer (t: TestContext, s3Endpoint: string, env: Record<string, string> = {}): Promise<TestServer & { bucket: string }> {
  const bucket = `fed-${suffix()}`
  const s = await startTestServer(t, { FEDERATE_STORAGE: 'true', S3_ENDPOINT: s3Endpoint, S3_BUCKET: bucket, ...env })
  return { ...s, bucket }
}

export interface Answer { status: number, headers: http.IncomingHttpHeaders, body: any, raw: Buffer }

/** One request with the path sent byte for byte; JSON answers are parsed. */
export async function request (base: string, method: string, path: string, options: { key?: string, body?: Buffer | string, headers?: Record<string, string> } = {}): Promise<Answer> {
  const u = new URL(base)
  const headers: Record<string, string> = { ...options.headers }
  if (options.key) headers.authorization = `Bearer ${options.key}`
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body
  if (body !== undefined) headers['content-length'] = String(body.length)
  return await new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const raw = Buffer.concat(chunks)
        const json = (res.headers['content-type'] ?? '').includes('json') && raw.length > 0
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: json ? JSON.parse(raw.toString()) : raw.toString(), raw })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}
