import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

// Recordings the sim leaves behind are real audio files Asterisk could have written:
// 8 kHz mono. Silence (or a 440 Hz tone) comes from one shared buffer, so a thousand
// recordings do not allocate a thousand sample arrays.

const RATE = 8000
/** Files are cut at this length: the content is synthetic, only the format matters. */
export const MAX_WRITTEN_SEC = 10

let silence16: Buffer | undefined
let tone16: Buffer | undefined

function pcm (tone: boolean): Buffer {
  if (!tone) return (silence16 ??= Buffer.alloc(RATE * 2 * MAX_WRITTEN_SEC))
  if (!tone16) {
    tone16 = Buffer.alloc(RATE * 2 * MAX_WRITTEN_SEC)
    for (let i = 0; i < RATE * MAX_WRITTEN_SEC; i++) tone16.writeInt16LE(Math.round(8000 * Math.sin(2 * Math.PI * 440 * i / RATE)), i * 2)
  }
  return tone16
}

/** A RIFF/WAVE header for 16-bit PCM, 8 kHz, mono. */
export function wavHeader (dataBytes: number): Buffer {
  const h = Buffer.alloc(44)
  h.write('RIFF', 0, 'ascii')
  h.writeUInt32LE(36 + dataBytes, 4)
  h.write('WAVE', 8, 'ascii')
  h.write('fmt ', 12, 'ascii')
  h.writeUInt32LE(16, 16)
  h.writeUInt16LE(1, 20) // PCM
  h.writeUInt16LE(1, 22) // mono
  h.writeUInt32LE(RATE, 24)
  h.writeUInt32LE(RATE * 2, 28)
  h.writeUInt16LE(2, 32)
  h.writeUInt16LE(16, 34)
  h.write('data', 36, 'ascii')
  h.writeUInt32LE(dataBytes, 40)
  return h
}

// One 33-byte GSM 06.10 frame (20 ms) of silence, as libgsm encodes digital silence.
const GSM_SILENCE = Buffer.from('d820a2e15a50004924924924500049249249245000492492492450004924924924', 'hex')

/**
 * Writes `seconds` of audio (capped at MAX_WRITTEN_SEC) to `path` in `format`
 * (wav: RIFF PCM; ulaw: raw mu-law; gsm: raw GSM frames). Creates the folder like Record() does.
 * Returns the bytes written.
 */
export async function writeRecording (path: string, format: string, seconds: number, tone = false): Promise<number> {
  const sec = Math.max(0, Math.min(seconds, MAX_WRITTEN_SEC))
  const samples = Math.floor(sec * RATE)
  await mkdir(dirname(path), { recursive: true })
  let data: Buffer
  if (format === 'ulaw') {
    data = Buffer.alloc(samples, 0xff) // mu-law zero
  } else if (format === 'gsm') {
    const frames = Math.floor(samples / 160)
    data = Buffer.alloc(frames * 33)
    for (let i = 0; i < frames; i++) GSM_SILENCE.copy(data, i * 33)
  } else {
    const body = pcm(tone).subarray(0, samples * 2)
    data = Buffer.concat([wavHeader(body.length), body])
  }
  await writeFile(path, data)
  return data.length
}
