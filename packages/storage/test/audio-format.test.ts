import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkAudio, StorageError } from '../src/index.ts'
import { gsm, samples, ulaw, wav } from './fixtures.ts'

function refused (fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StorageError)
    assert.equal(err.code, 'FED_STORAGE_BAD_AUDIO')
    assert.match(err.message, pattern)
    return true
  })
}

test('an 8 kHz mono 16-bit PCM WAV is accepted as wav with its duration', () => {
  const info = checkAudio(wav({ ms: 250 }), 'intro.wav')
  assert.equal(info.format, 'wav')
  assert.equal(info.sampleRate, 8000)
  assert.equal(info.durationMs, 250)
  assert.equal(info.audioBytes, 4000)
})

test('a 16 kHz mono WAV is stored as wav16, the extension Asterisk expects for it', () => {
  const info = checkAudio(wav({ rate: 16000, ms: 100 }), 'hd.wav')
  assert.equal(info.format, 'wav16')
  assert.equal(info.durationMs, 100)
})

test('a WAV is recognised by its header whatever its extension', () => {
  assert.equal(checkAudio(wav(), 'no-extension').format, 'wav')
  assert.equal(checkAudio(wav(), 'misnamed.ulaw').format, 'wav')
})

test('extra chunks before and after fmt (LIST, fact, odd sizes) are skipped', () => {
  const info = checkAudio(wav({
    before: [['JUNK', Buffer.alloc(27)]],
    between: [['LIST', Buffer.from('INFOISFT\x05\x00\x00\x00Lavf\x00')], ['fact', Buffer.alloc(4)]],
    ms: 50,
  }))
  assert.equal(info.format, 'wav')
  assert.equal(info.durationMs, 50)
})

test('the first bytes and the size are enough to check a WAV', () => {
  const file = wav({ ms: 1000 })
  const info = checkAudio({ head: file.subarray(0, 64), size: file.length })
  assert.equal(info.format, 'wav')
  assert.equal(info.durationMs, 1000)
})

test('a 44.1 kHz stereo WAV is refused saying what it is and what is wanted', () => {
  refused(() => checkAudio(wav({ rate: 44100, channels: 2 }), 'music.wav'),
    /WAV PCM 44100 Hz stereo 16-bit: wanted WAV PCM 8000 or 16000 Hz mono 16-bit/)
})

test('WAVs in other encodings or widths are refused by name', () => {
  refused(() => checkAudio(wav({ bits: 8 })), /WAV PCM 8000 Hz mono 8-bit/)
  refused(() => checkAudio(wav({ codec: 7, bits: 8 })), /WAV mu-law 8000 Hz mono 8-bit/)
  refused(() => checkAudio(wav({ codec: 3, bits: 32, rate: 48000 })), /WAV IEEE float 48000 Hz mono 32-bit/)
  refused(() => checkAudio(wav({ rate: 22050 })), /22050 Hz/)
})

test('a WAV without fmt or data, or with an empty data chunk, is refused', () => {
  const noFmt = Buffer.concat([Buffer.from('RIFF'), Buffer.from([4, 0, 0, 0]), Buffer.from('WAVE')])
  refused(() => checkAudio(noFmt), /without a fmt chunk/)
  const empty = wav({ ms: 0 })
  refused(() => checkAudio(empty), /no audio/)
  const headerOnly = wav().subarray(0, 36)
  headerOnly.writeUInt32LE(28, 4)
  refused(() => checkAudio(headerOnly), /without a data chunk/)
})

test('an empty file is refused', () => {
  refused(() => checkAudio(Buffer.alloc(0), 'x.wav'), /empty file \(\.wav\)/)
  refused(() => checkAudio({ head: Buffer.alloc(0), size: 0 }, 'x.gsm'), /empty file/)
})

test('GSM is accepted when whole 33-byte frames carry the 0xD signature', () => {
  const info = checkAudio(gsm(50), 'x.gsm')
  assert.equal(info.format, 'gsm')
  assert.equal(info.durationMs, 1000)
  refused(() => checkAudio(gsm(3).subarray(0, 98), 'x.gsm'), /not a whole number of 33-byte GSM frames/)
  const broken = gsm(3)
  broken[33] = 0x10
  refused(() => checkAudio(broken, 'x.gsm'), /frame 1 lacks the 0xD signature/)
})

test('raw mu-law, a-law and signed linear are told apart by extension', () => {
  assert.equal(checkAudio(ulaw(8000), 'a.ulaw').format, 'ulaw')
  assert.equal(checkAudio(ulaw(8000), 'a.pcm').format, 'ulaw')
  assert.equal(checkAudio(ulaw(8000), 'a.mulaw').format, 'ulaw')
  assert.equal(checkAudio(ulaw(8000), 'a.ulaw').durationMs, 1000)
  assert.equal(checkAudio(ulaw(800), 'a.alaw').format, 'alaw')
  const sln = checkAudio(samples(8000), 'a.sln')
  assert.equal(sln.format, 'sln')
  assert.equal(sln.durationMs, 1000)
  assert.equal(checkAudio(samples(8000), 'a.sln16').durationMs, 500)
  refused(() => checkAudio(samples(10).subarray(0, 19), 'a.sln'), /even number of bytes/)
})

test('raw mu-law that happens to start like an MP3 frame is still mu-law', () => {
  const data = ulaw(800)
  data[0] = 0xff
  data[1] = 0xfb
  assert.equal(checkAudio(data, 'a.ulaw').format, 'ulaw')
})

test('other audio, documents and text are refused naming what they are', () => {
  refused(() => checkAudio(Buffer.concat([Buffer.from('ID3\x04'), Buffer.alloc(100)]), 'song.mp3'), /^unsupported audio: MP3 \(\.mp3\): wanted/)
  refused(() => checkAudio(Buffer.from([0xff, 0xfb, 0x90, 0x00, 1, 2, 3]), 'song.mp3'), /MP3/)
  refused(() => checkAudio(Buffer.concat([Buffer.from('OggS'), Buffer.alloc(60)]), 'a.ogg'), /Ogg/)
  refused(() => checkAudio(Buffer.concat([Buffer.from('fLaC'), Buffer.alloc(60)]), 'a.flac'), /FLAC/)
  refused(() => checkAudio(Buffer.concat([Buffer.from('%PDF-1.7'), Buffer.alloc(60)]), 'a.wav'), /PDF \(\.wav\)/)
  refused(() => checkAudio(Buffer.from('hello, this is not audio\n'), 'notes.txt'), /text, not audio \(\.txt\)/)
  refused(() => checkAudio(Buffer.from('hello, this is not audio\n'), 'notes.ulaw'), /text, not audio/)
  refused(() => checkAudio(Buffer.from([1, 2, 3, 200, 201, 0, 0, 9]), 'blob'), /unrecognised data: .*headerless audio needs its extension/)
  refused(() => checkAudio(Buffer.concat([Buffer.from('RIFF\x10\x00\x00\x00AVI '), Buffer.alloc(16)]), 'clip.avi'), /RIFF AVI/)
})
