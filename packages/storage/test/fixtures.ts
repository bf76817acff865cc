// Audio built in memory: exact headers, deterministic samples (a tone per `seed`).

export interface WavSpec {
  rate?: number
  channels?: number
  bits?: number
  /** WAVE format code: 1 PCM, 3 float, 7 mu-law, 0xfffe extensible. */
  codec?: number
  ms?: number
  seed?: number
  /** Chunks written before `fmt ` and between `fmt ` and `data` (LIST, fact, odd sizes...). */
  before?: Array<[string, Buffer]>
  between?: Array<[string, Buffer]>
}

function chunk (id: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8)
  head.write(id, 0, 'latin1')
  head.writeUInt32LE(body.length, 4)
  return Buffer.concat([head, body, body.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)])
}

export function samples (count: number, seed = 1, bytesPerSample = 2): Buffer {
  const out = Buffer.alloc(count * bytesPerSample)
  for (let i = 0; i < count; i++) {
    const v = Math.round(Math.sin(i * (0.05 + seed * 0.01)) * 8000)
    if (bytesPerSample === 2) out.writeInt16LE(v, i * 2)
    else out[i] = (v >> 8) & 0xff
  }
  return out
}

export function wav (spec: WavSpec = {}): Buffer {
  const { rate = 8000, channels = 1, bits = 16, codec = 1, ms = 100, seed = 1 } = spec
  const blockAlign = channels * bits / 8
  const fmt = Buffer.alloc(16)
  fmt.writeUInt16LE(codec, 0)
  fmt.writeUInt16LE(channels, 2)
  fmt.writeUInt32LE(rate, 4)
  fmt.writeUInt32LE(rate * blockAlign, 8)
  fmt.writeUInt16LE(blockAlign, 12)
  fmt.writeUInt16LE(bits, 14)
  const frames = Math.round(rate * ms / 1000)
  const data = samples(frames * channels, seed, bits / 8)
  const body = Buffer.concat([
    Buffer.from('WAVE'),
    ...(spec.before ?? []).map(([id, b]) => chunk(id, b)),
    chunk('fmt ', fmt),
    ...(spec.between ?? []).map(([id, b]) => chunk(id, b)),
    chunk('data', data),
  ])
  const riff = Buffer.alloc(8)
  riff.write('RIFF', 0, 'latin1')
  riff.writeUInt32LE(body.length, 4)
  return Buffer.concat([riff, body])
}

/** GSM 06.10: 33-byte frames, each starting with the 0xD signature nibble. */
export function gsm (frames = 10, seed = 1): Buffer {
  const out = Buffer.alloc(frames * 33)
  for (let f = 0; f < frames; f++) {
    for (let i = 0; i < 33; i++) out[f * 33 + i] = (f * 7 + i * 13 + seed) & 0xff
    out[f * 33] = 0xd0 | (f & 0x0f)
  }
  return out
}

/** Raw mu-law bytes (no printable run: mostly high bytes, like real audio). */
export function ulaw (bytes = 800, seed = 1): Buffer {
  const out = Buffer.alloc(bytes)
  for (let i = 0; i < bytes; i++) out[i] = 0x80 | ((i * 31 + seed) & 0x7f)
  return out
}
