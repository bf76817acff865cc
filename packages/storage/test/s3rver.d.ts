// s3rver ships no types: the little the tests use.
declare module 's3rver' {
  import type { Server } from 'node:http'
  interface S3rverOptions {
    port?: number
    address?: string
    silent?: boolean
    directory: string
    resetOnClose?: boolean
    configureBuckets?: Array<{ name: string }>
  }
  export default class S3rver {
    constructor (options: S3rverOptions)
    httpServer?: Server
    run (): Promise<{ address: string, port: number }>
    close (): Promise<void>
  }
}
