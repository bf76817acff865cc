import type { ParamsOf, ResultOf } from '@federate/protocol'

/** What the tier needs from the storage manager (absent when storage is off). */
export interface StorageService {
  currentVersion: () => Promise<number>
  manifest: (since: number | undefined) => Promise<ResultOf<'storage.manifest'>>
  recordingUpload: (p: ParamsOf<'recording.upload'>) => Promise<ResultOf<'recording.upload'>>
}

/** What the tier needs from the dialer for dialer.next (absent when the dialer is off). */
export interface DialerService {
  next: (instanceId: string, free: number) => Promise<ResultOf<'dialer.next'>>
}
