export { StorageError, StorageErrorCodes } from './errors.ts'
export type { StorageErrorCode } from './errors.ts'
export { storageSettings, storageOnlySettings, storageDefaults } from './settings.ts'
export type { S3Config, StorageConfig } from './settings.ts'
export { createS3, wrapS3Error } from './s3.ts'
export type { S3Store, S3Options } from './s3.ts'
export { checkAudio, sniff, extensionOf, PROMPT_FORMATS, AUDIO_EXTENSIONS, WANTED } from './audio-format.ts'
export type { AudioInfo, AudioInput, PromptFormat } from './audio-format.ts'
export { soxAvailable, convertWithSox } from './sox.ts'
export {
  checkPromptName, safeName, promptPath, playbackName, checkManifestPath, SOUNDS_PREFIX, PROMPT_NAME_MAX,
} from './prompt-name.ts'
export type { StorageContext, StoragePool } from './context.ts'
export {
  putPrompt, deletePrompt, getPrompt, listPrompts, promptExists, promptDownloadUrl, promptObjectKey, splitPromptName,
} from './prompts.ts'
export type { Prompt, PutPromptResult } from './prompts.ts'
export { manifest, manifestVersion } from './manifest.ts'
export { collectGarbage } from './gc.ts'
export type { Manifest, ManifestEntry } from './manifest.ts'
export { recordingUploadUrl, recordRecording, listRecordings, recordingDownloadUrl, recordingKey } from './recordings.ts'
export type { Recording } from './recordings.ts'
export { syncManifest, syncedVersion, resetSyncState, partialPath, SYNC_STATE_FILE } from './sync.ts'
export type { SyncOptions, SyncResult, SyncFailure } from './sync.ts'
