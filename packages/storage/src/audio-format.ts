import { extname } from 'node:path'
import { StorageError } from './errors.ts'

// Which audio an Asterisk instance plays as-is, decided from the bytes (and, for headerless
// raw formats, the file extension). Pure: no I/O, so the CLI can check a file before uploading
// and the REST route can refuse it before it reaches S3.

/** Asterisk format names; each is also the file extension Asterisk looks for. */
export const PROMPT_FORMATS = ['wav', 'wav16', 'gsm', 'ulaw', 'alaw', 'sln', 'sln16'] as const
export type PromptFormat = typeof PROMPT_FORMATS[number]

export interface AudioInfo {
  /** Asterisk format, also the extension the file is stored and installed with. */
  format: PromptFormat
  sampleRate: 8000 | 16000
  /** Bytes of audio (WAV: the data chunk), used for the duration. */
  audioBytes: number
  durationMs: number
  /** Human description, e.g. `WAV PCM 8000 Hz mono 16-bit`. */
  description: string
}

/** The whole file, or its first bytes and total size (the head must hold the WAV header). */
export type AudioInput = Buffer | { head: Buffer, size: number }

export const WANTED = 'wanted WAV PCM 8000 or 16000 Hz mono 16-bit, or raw GSM (.gsm), mu-law (.ulaw), a-law (.alaw), ' +
  'signed linear 8 kHz (.sln) or 16 kHz (.sln16)'
const HINT = 'convert it with `federate audio upload --convert` or `sox in -r 8000 -c 1 -b 16 out.wav`'

// Extensions of headerless formats (Asterisk's own lists, plus .mulaw) -> the format stored.
const RAW_EXTENSIONS: Record<string, PromptFormat> = {
  gsm: 'gsm',
  ulaw: 'ulaw',
  mulaw: 'ulaw',
  pcm: 'ulaw',
  ul: 'ulaw',
  mu: 'ulaw',
  ulw: 'ulaw',
  alaw: 'alaw',
  al: 'alaw',
  alw: 'alaw',
  sln: 'sln',
  raw: 'sln',
  sln16: 'sln16',
}

/** Extensions that name audio this library knows (so a prompt name `intro.wav` can drop it). */
export const AUDIO_EXTENSIONS: ReadonlySet<string> = new Set(['wav', 'wav16', ...Object.keys(RAW_EXTENSIONS)])

const WAV_CODECS: Record<number, string> = {
  1: 'PCM',
  2: 'MS ADPCM',
  3: 'IEEE float',
  6: 'a-law',
  7: 'mu-law',
  0x11: 'IMA ADPCM',
  0x31: 'GSM 6.10',
  0x55: 'MP3',
  0xfffe: 'extensible',
}

const GSM_FRAME = 33

function bad (found: string, extra = ''): StorageError {
  return new StorageError('FED_STORAGE_BAD_AUDIO', `${found}: ${WANTED}${extra ? `; ${extra}` : ''}`)
}

/**
 * A short name for well-known content, from its magic bytes. `weak` also tries two-byte
 * signatures (MP3 frame sync, JPEG) that raw mu-law audio can start with by chance.
 */
export function sniff (head: Buffer, weak = true): string | undefined {
  const ascii = (from: number, to: number) => head.subarray(from, to).toString('latin1')
  if (head.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WAVE') return 'WAV'
  if (ascii(0, 4) === 'RIFX' || ascii(0, 4) === 'RF64') return `WAV (${ascii(0, 4)})`
  if (ascii(0, 4) === 'RIFF') return `RIFF ${ascii(8, 12)}`
  if (ascii(0, 3) === 'ID3' || (weak && head.length >= 2 && head[0] === 0xff && (head[1]! & 0xe6) === 0xe2)) return 'MP3'
  if (ascii(0, 4) === 'OggS') return 'Ogg (Vorbis/Opus)'
  if (ascii(0, 4) === 'fLaC') return 'FLAC'
  if (ascii(0, 4) === 'FORM' && /^AIF[FC]$/.test(ascii(8, 12))) return 'AIFF'
  if (ascii(0, 5) === '#!AMR') return 'AMR'
  if (ascii(4, 8) === 'ftyp') return 'MP4/M4A'
  if (head.length >= 4 && head.readUInt32BE(0) === 0x1a45dfa3) return 'WebM/Matroska'
  if (ascii(0, 4) === '.snd') return 'Sun/NeXT .au'
  if (ascii(0, 4) === '%PDF') return 'PDF'
  if (ascii(0, 4) === '\x89PNG') return 'PNG image'
  if (weak && head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'JPEG image'
  if (ascii(0, 4) === 'PK\x03\x04') return 'ZIP archive'
  return undefined
}

function looksLikeText (head: Buffer): boolean {
  const sample = head.subarray(0, 512)
  if (sample.length === 0) return false
  let printable = 0
  for (const b of sample) if (b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127)) printable++
  return printable / sample.length > 0.97
}

function parseWav (head: Buffer, size: number, complete: boolean): AudioInfo {
  const riffEnd = Math.min(size, 8 + head.readUInt32LE(4))
  let fmt: { codec: number, channels: number, rate: number, bits: number } | undefined
  let dataBytes: number | undefined
  let at = 12
  // Walk the chunks: writers add LIST, fact, bext, cue... anywhere before `data`.
  while (at + 8 <= riffEnd) {
    if (at + 8 > head.length) break
    const id = head.subarray(at, at + 4).toString('latin1')
    const len = head.readUInt32LE(at + 4)
    const body = at + 8
    if (id === 'fmt ') {
      if (len < 16 || body + 16 > head.length) throw bad('WAV with a truncated fmt chunk')
      let codec = head.readUInt16LE(body)
      // Extensible: the real codec is the first two bytes of the sub-format GUID.
      const extensible = codec === 0xfffe && len >= 40 && body + 26 <= head.length
      if (extensible) codec = head.readUInt16LE(body + 24)
      fmt = {
        codec: extensible ? -codec : codec,
        channels: head.readUInt16LE(body + 2),
        rate: head.readUInt32LE(body + 4),
        bits: head.readUInt16LE(body + 14),
      }
    } else if (id === 'data') {
      // Streaming writers leave 0 or 0xFFFFFFFF here: Asterisk plays to the end of the file anyway.
      dataBytes = len === 0 || len === 0xffffffff || body + len > size ? size - body : len
      break
    }
    at = body + len + (len % 2)
  }
  if (fmt === undefined) throw bad(complete ? 'WAV without a fmt chunk' : 'WAV whose fmt chunk is not in the first bytes')
  const codecName = fmt.codec < 0
    ? `extensible ${WAV_CODECS[-fmt.codec] ?? `format 0x${(-fmt.codec).toString(16)}`}`
    : WAV_CODECS[fmt.codec] ?? `format 0x${fmt.codec.toString(16)}`
  const channels = fmt.channels === 1 ? 'mono' : fmt.channels === 2 ? 'stereo' : `${fmt.channels} channels`
  const description = `WAV ${codecName} ${fmt.rate} Hz ${channels} ${fmt.bits}-bit`
  // Asterisk's format_wav reads only plain PCM (format 1), 16-bit, mono: 8 kHz as .wav, 16 kHz as .wav16.
  const ok = fmt.codec === 1 && fmt.bits === 16 && fmt.channels === 1 && (fmt.rate === 8000 || fmt.rate === 16000)
  if (!ok) throw bad(description, HINT)
  if (dataBytes === undefined) {
    // Only the head was given and the data chunk starts past it: the size still bounds the audio.
    if (complete) throw bad(`${description} without a data chunk`)
    dataBytes = Math.max(0, size - at - 8)
  }
  if (dataBytes === 0) throw bad(`${description} with no audio (empty data chunk)`)
  const rate = fmt.rate as 8000 | 16000
  return {
    format: rate === 8000 ? 'wav' : 'wav16',
    sampleRate: rate,
    audioBytes: dataBytes,
    durationMs: Math.round(dataBytes / (rate * 2) * 1000),
    description: `WAV PCM ${rate} Hz mono 16-bit`,
  }
}

function checkGsm (head: Buffer, size: number): AudioInfo {
  if (size % GSM_FRAME !== 0) throw bad(`${size} bytes, not a whole number of 33-byte GSM frames`)
  for (let at = 0; at + GSM_FRAME <= head.length; at += GSM_FRAME) {
    // Every GSM 06.10 frame starts with the 0xD signature nibble.
    if (head[at]! >> 4 !== 0xd) throw bad(`not GSM 06.10 (frame ${at / GSM_FRAME} lacks the 0xD signature)`)
  }
  const frames = size / GSM_FRAME
  return { format: 'gsm', sampleRate: 8000, audioBytes: size, durationMs: frames * 20, description: 'GSM 06.10 8000 Hz mono' }
}

/** The lower-case extension of a file name, without the dot ('' when there is none). */
export function extensionOf (filename: string): string {
  return extname(filename).slice(1).toLowerCase()
}

/**
 * Checks that audio is something Asterisk plays without transcoding surprises and says which
 * format to store it as. WAV is recognised by its header (whatever the extension); headerless
 * formats by the extension of `filename`. Throws FED_STORAGE_BAD_AUDIO saying what was found
 * and what is wanted.
 */
export function checkAudio (input: AudioInput, filename = ''): AudioInfo {
  const complete = Buffer.isBuffer(input)
  const head = complete ? input : input.head
  const size = complete ? input.length : input.size
  const ext = extensionOf(filename)
  const shown = ext ? ` (.${ext})` : ''
  if (size === 0) throw bad(`empty file${shown}`)
  const raw = RAW_EXTENSIONS[ext]
  const kind = sniff(head, raw === undefined)
  if (kind === 'WAV') return parseWav(head, size, complete)
  if (kind !== undefined) throw bad(`${kind}${shown}`, HINT)
  if (raw === undefined) {
    const what = looksLikeText(head) ? 'text, not audio' : 'unrecognised data'
    throw bad(`${what}${shown}`, ext === '' ? 'headerless audio needs its extension (.gsm, .ulaw, .alaw, .sln, .sln16)' : '')
  }
  if (raw === 'gsm') return checkGsm(head, size)
  if (looksLikeText(head)) throw bad(`text, not audio${shown}`)
  if (raw === 'ulaw' || raw === 'alaw') {
    const name = raw === 'ulaw' ? 'mu-law' : 'a-law'
    return { format: raw, sampleRate: 8000, audioBytes: size, durationMs: Math.round(size / 8), description: `raw ${name} 8000 Hz mono` }
  }
  if (size % 2 !== 0) throw bad(`${size} bytes: signed linear audio has an even number of bytes${shown}`)
  const rate = raw === 'sln16' ? 16000 : 8000
  return {
    format: raw,
    sampleRate: rate,
    audioBytes: size,
    durationMs: Math.round(size / (rate * 2) * 1000),
    description: `raw signed linear ${rate} Hz mono 16-bit`,
  }
}
