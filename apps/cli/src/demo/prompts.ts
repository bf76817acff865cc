// The demo's prompts: short 8 kHz mono 16-bit PCM WAV tones, one pitch per prompt, made here
// so the demo needs no sound package. Real deployments upload recorded prompts the same way.

/** A WAV file holding `ms` of a sine tone at `hz` (8 kHz mono 16-bit PCM, what Asterisk plays). */
export function toneWav (hz: number, ms: number): Buffer {
  const rate = 8000
  const samples = Math.round((rate * ms) / 1000)
  const data = Buffer.alloc(samples * 2)
  for (let i = 0; i < samples; i++) {
    // A short fade in and out keeps the tone from clicking.
    const edge = Math.min(1, i / 200, (samples - i) / 200)
    data.writeInt16LE(Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * 8000 * edge), i * 2)
  }
  const header = Buffer.alloc(44)
  header.write('RIFF', 0)
  header.writeUInt32LE(36 + data.length, 4)
  header.write('WAVE', 8)
  header.write('fmt ', 12)
  header.writeUInt32LE(16, 16)
  header.writeUInt16LE(1, 20) // PCM
  header.writeUInt16LE(1, 22) // mono
  header.writeUInt32LE(rate, 24)
  header.writeUInt32LE(rate * 2, 28)
  header.writeUInt16LE(2, 32)
  header.writeUInt16LE(16, 34)
  header.write('data', 36)
  header.writeUInt32LE(data.length, 40)
  return Buffer.concat([header, data])
}

/** Every prompt the demo's poll flow plays, plus the dialplan's sorry prompt. */
export const DEMO_PROMPTS: Record<string, { hz: number, ms: number }> = {
  'poll/intro': { hz: 440, ms: 1500 },
  'poll/question': { hz: 494, ms: 1200 },
  'poll/thanks': { hz: 523, ms: 800 },
  'poll/goodbye': { hz: 392, ms: 700 },
  'poll/no-input': { hz: 349, ms: 700 },
  'poll/invalid': { hz: 330, ms: 700 },
  'poll/machine': { hz: 587, ms: 2000 },
  sorry: { hz: 262, ms: 1000 },
}
