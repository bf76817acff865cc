// Every error code of @federate/storage in one place. Callers (REST routes, the CLI, XML-RPC
// handlers, the agent) branch on `code` and `canRetry`, never on messages; `cause` keeps the original.

export const StorageErrorCodes = {
  /** The bytes are not an audio format Asterisk plays as-is (the message says what was found). */
  FED_STORAGE_BAD_AUDIO: { retry: false, text: 'unsupported audio' },
  /** A prompt name, a manifest path or a recording file name is not safe to use. */
  FED_STORAGE_BAD_NAME: { retry: false, text: 'invalid name' },
  FED_STORAGE_NOT_FOUND: { retry: false, text: 'not found' },
  /** S3 did not answer or failed: retry later. */
  FED_STORAGE_UNAVAILABLE: { retry: true, text: 'object storage is unavailable' },
  /** Downloaded bytes do not hash to what the manifest says. */
  FED_STORAGE_HASH_MISMATCH: { retry: true, text: 'downloaded content does not match its hash' },
  /** A download failed (HTTP status, network, size). */
  FED_STORAGE_DOWNLOAD_FAILED: { retry: true, text: 'download failed' },
  FED_STORAGE_SOX_MISSING: { retry: false, text: 'sox is not installed (apt-get install sox)' },
  FED_STORAGE_CONVERT_FAILED: { retry: false, text: 'audio conversion failed' },
} as const

export type StorageErrorCode = keyof typeof StorageErrorCodes

export class StorageError extends Error {
  readonly code: StorageErrorCode
  /** True when the same request may succeed if sent again later. */
  readonly canRetry: boolean

  constructor (code: StorageErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${StorageErrorCodes[code].text}: ${detail}` : StorageErrorCodes[code].text, options)
    this.name = 'StorageError'
    this.code = code
    this.canRetry = StorageErrorCodes[code].retry
  }
}
