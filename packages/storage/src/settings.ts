import Type from 'typebox'
import { defineSettings, type ConfigOf, s3Settings } from '@federate/config'

/** Settings of the storage manager itself (S3 connection settings are `s3Settings`). */
export const storageOnlySettings = defineSettings({
  storageUrlTtlSec: {
    env: 'STORAGE_URL_TTL_SEC',
    schema: Type.Integer({ minimum: 1, maximum: 604800 }),
    default: 300,
    description: 'lifetime of the signed GET URLs in an audio manifest, seconds',
  },
  recordingUrlTtlSec: {
    env: 'RECORDING_URL_TTL_SEC',
    schema: Type.Integer({ minimum: 1, maximum: 604800 }),
    default: 900,
    description: 'lifetime of the signed PUT URL an instance uploads a recording with, seconds',
  },
  storageMaxPromptBytes: {
    env: 'STORAGE_MAX_PROMPT_BYTES',
    schema: Type.Integer({ minimum: 1, maximum: 2147483647 }),
    default: 50 * 1024 * 1024,
    description: 'largest prompt file accepted, bytes',
  },
})

/** Everything the storage manager reads: S3 connection plus its own settings. */
export const storageSettings = defineSettings({ ...s3Settings, ...storageOnlySettings })

export type S3Config = ConfigOf<typeof s3Settings>
export type StorageConfig = ConfigOf<typeof storageOnlySettings>

export const storageDefaults: StorageConfig = Object.freeze({
  storageUrlTtlSec: 300,
  recordingUrlTtlSec: 900,
  storageMaxPromptBytes: 50 * 1024 * 1024,
})
