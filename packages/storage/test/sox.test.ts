import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkAudio, convertWithSox, soxAvailable, StorageError } from '../src/index.ts'
import { wav } from './fixtures.ts'

const hasSox = soxAvailable()

test('without sox, conversion fails with a message saying how to install it', { skip: hasSox && 'sox is installed' }, async () => {
  await assert.rejects(convertWithSox(wav({ rate: 44100, channels: 2 }), 'music.wav'),
    (err: unknown) => err instanceof StorageError && err.code === 'FED_STORAGE_SOX_MISSING' && /apt-get install sox/.test(err.message))
})

test('sox turns a 44.1 kHz stereo WAV into an accepted 8 kHz mono 16-bit WAV', { skip: !hasSox && 'sox is not installed' }, async () => {
  const out = await convertWithSox(wav({ rate: 44100, channels: 2, ms: 500 }), 'music.wav')
  const info = checkAudio(out, 'music.wav')
  assert.equal(info.format, 'wav')
  assert.ok(Math.abs(info.durationMs - 500) <= 2, `duration ${info.durationMs}`)
})

test('sox refuses input it cannot read', { skip: !hasSox && 'sox is not installed' }, async () => {
  await assert.rejects(convertWithSox(Buffer.from('not audio'), 'x.wav'),
    (err: unknown) => err instanceof StorageError && err.code === 'FED_STORAGE_CONVERT_FAILED')
})
