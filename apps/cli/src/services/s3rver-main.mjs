// A local S3 server for development, tests and the demo: s3rver on one address, files under
// S3RVER_DIR, the default bucket created. Started detached by `federate services up`.
import { createRequire } from 'node:module'
import S3rver from 's3rver'

const require = createRequire(import.meta.url)
const env = process.env
const host = env.S3RVER_HOST ?? '127.0.0.1'
const port = Number(env.S3RVER_PORT ?? 9000)
const accessKeyId = env.S3RVER_ACCESS_KEY_ID || 'S3RVER'
const secretAccessKey = env.S3RVER_SECRET_ACCESS_KEY || 'S3RVER'

// s3rver knows one hard-coded key pair (S3RVER/S3RVER); register the configured one beside it.
if (accessKeyId !== 'S3RVER') {
  const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account.js')
  DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey)
}

const server = new S3rver({
  address: host,
  port,
  directory: env.S3RVER_DIR ?? '.',
  silent: true,
  configureBuckets: env.S3RVER_BUCKET ? [{ name: env.S3RVER_BUCKET }] : [],
})

try {
  await server.run()
  console.log(`${new Date().toISOString()} s3rver listening on http://${host}:${port} (directory ${env.S3RVER_DIR}, bucket ${env.S3RVER_BUCKET || '-'})`)
} catch (err) {
  console.error(`${new Date().toISOString()} s3rver could not start: ${err.message}`)
  process.exit(1)
}

const stop = (signal) => {
  console.log(`${new Date().toISOString()} s3rver stopping (${signal})`)
  server.close().finally(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
