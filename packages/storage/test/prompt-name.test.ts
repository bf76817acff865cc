import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkManifestPath, checkPromptName, playbackName, promptPath, safeName, splitPromptName, StorageError } from '../src/index.ts'

function badName (fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StorageError)
    assert.equal(err.code, 'FED_STORAGE_BAD_NAME')
    assert.match(err.message, pattern)
    return true
  })
}

test('relative names of letters, digits, _ and - in / segments are accepted', () => {
  for (const name of ['intro', 'poll/intro', 'Poll_2024/q-1/yes', 'a'.repeat(200)]) assert.equal(checkPromptName(name), name)
})

test('unsafe prompt names are refused saying why and suggesting a safe one', () => {
  badName(() => checkPromptName(''), /empty/)
  badName(() => checkPromptName('/etc/passwd'), /starts with \//)
  badName(() => checkPromptName('../secret'), /\.\. segment/)
  badName(() => checkPromptName('poll/../../x'), /\.\. segment/)
  badName(() => checkPromptName('poll//intro'), /empty segment/)
  badName(() => checkPromptName('poll/'), /empty segment/)
  badName(() => checkPromptName('my intro'), /contains a space: use letters, digits, _ and - .* \(try "my-intro"\)/)
  badName(() => checkPromptName('café'), /contains "é" \(U\+00E9\).*\(try "cafe"\)/)
  badName(() => checkPromptName('intro.wav'), /without an extension/)
  badName(() => checkPromptName('a\u0000b'), /control character \(U\+0000\)/)
  badName(() => checkPromptName('a'.repeat(201)), /201 characters long, at most 200/)
})

test('safeName turns any text into an accepted name', () => {
  assert.equal(safeName('Mon Intro (v2)'), 'Mon-Intro-v2')
  assert.equal(safeName('élection/été 2024'), 'election/ete-2024')
  assert.equal(safeName('../../etc/passwd'), 'etc/passwd')
  assert.equal(safeName('  '), '')
  for (const s of ['Mon Intro (v2)', 'élection/été 2024', 'a\\b', 'x'.repeat(300) + ' y']) checkPromptName(safeName(s))
})

test('an audio extension on a given name is split off, other dots stay', () => {
  assert.deepEqual(splitPromptName('poll/intro.wav'), { name: 'poll/intro', ext: 'wav' })
  assert.deepEqual(splitPromptName('x.sln16'), { name: 'x', ext: 'sln16' })
  assert.deepEqual(splitPromptName('v1.2'), { name: 'v1.2', ext: '' })
  assert.deepEqual(splitPromptName('intro'), { name: 'intro', ext: '' })
})

test('prompts live under federate/ on the instance; the dialplan plays them without extension', () => {
  assert.equal(promptPath('poll/intro', 'wav'), 'federate/poll/intro.wav')
  assert.equal(playbackName('poll/intro'), 'federate/poll/intro')
})

test('manifest paths outside federate/, absolute or climbing are refused', () => {
  assert.equal(checkManifestPath('federate/poll/intro.wav'), 'federate/poll/intro.wav')
  badName(() => checkManifestPath('/etc/passwd'), /absolute/)
  badName(() => checkManifestPath('federate/../../etc/passwd'), /\.\. segment/)
  badName(() => checkManifestPath('federate/a/./b.wav'), /\. or \.\. segment/)
  badName(() => checkManifestPath('en/hello-world.gsm'), /not under federate\//)
  badName(() => checkManifestPath('federate'), /not under federate\//)
  badName(() => checkManifestPath('federate\\..\\x'), /backslash/)
  badName(() => checkManifestPath('federate/.federate-sync.json'), /hidden file/)
  badName(() => checkManifestPath('C:/x.wav'), /absolute/)
  badName(() => checkManifestPath('federate/a b.wav'), /characters outside/)
})
