import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { extensionOf } from './audio-format.ts'
import { StorageError } from './errors.ts'

// Optional conversion for `federate audio upload --convert`: anything sox reads becomes
// 8 kHz mono 16-bit WAV, the format every Asterisk plays without transcoding surprises.

let available: boolean | undefined

/** True when a `sox` binary runs (checked once per process). */
export function soxAvailable (): boolean {
  available ??= spawnSync('sox', ['--version'], { stdio: 'ignore', timeout: 5_000 }).status === 0
  return available
}

/**
 * Converts audio to WAV PCM 8000 Hz mono 16-bit with sox. `filename` tells sox the input type
 * (its extension); the input goes through a temp file because sox cannot sniff every type on
 * a pipe. Throws FED_STORAGE_SOX_MISSING without sox, FED_STORAGE_CONVERT_FAILED when sox fails.
 */
export async function convertWithSox (input: Buffer, filename: string, options: { timeoutMs?: number } = {}): Promise<Buffer> {
  if (!soxAvailable()) throw new StorageError('FED_STORAGE_SOX_MISSING')
  const dir = await mkdtemp(join(tmpdir(), 'federate-sox-'))
  try {
    const ext = extensionOf(filename) || 'wav'
    const src = join(dir, `input.${ext}`)
    await writeFile(src, input)
    return await new Promise<Buffer>((resolve, reject) => {
      const child = spawn('sox', ['-V1', src, '-t', 'wav', '-e', 'signed-integer', '-b', '16', '-c', '1', '-r', '8000', '-'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: options.timeoutMs ?? 60_000,
      })
      const out: Buffer[] = []
      const err: Buffer[] = []
      child.stdout.on('data', (c: Buffer) => out.push(c))
      child.stderr.on('data', (c: Buffer) => err.push(c))
      child.on('error', (e) => reject(new StorageError('FED_STORAGE_CONVERT_FAILED', e.message, { cause: e })))
      child.on('close', (code, signal) => {
        if (code === 0) resolve(fixStreamedWavHeader(Buffer.concat(out)))
        else reject(new StorageError('FED_STORAGE_CONVERT_FAILED', `sox exited with ${code ?? signal}: ${Buffer.concat(err).toString().trim()}`))
      })
    })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

// sox writing WAV to a pipe cannot seek back, so it leaves the RIFF and data sizes at their
// maximum: set them from the real length.
function fixStreamedWavHeader (wav: Buffer): Buffer {
  if (wav.length < 12 || wav.toString('latin1', 0, 4) !== 'RIFF') return wav
  wav.writeUInt32LE(wav.length - 8, 4)
  let at = 12
  while (at + 8 <= wav.length) {
    const id = wav.toString('latin1', at, at + 4)
    if (id === 'data') {
      wav.writeUInt32LE(wav.length - at - 8, at + 4)
      break
    }
    at += 8 + wav.readUInt32LE(at + 4) + (wav.readUInt32LE(at + 4) % 2)
  }
  return wav
}
