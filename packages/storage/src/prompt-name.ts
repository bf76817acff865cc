import { StorageError } from './errors.ts'
import type { PromptFormat } from './audio-format.ts'

// Prompt names become file paths on every instance, S3 metadata and dialplan arguments, so
// they are restricted to what is safe in all three: ASCII segments separated by `/`.

/**
 * Folder under the Asterisk sounds directory that holds every synced prompt. Asterisk ships
 * its own sounds at the top level and in per-language folders (en/, fr/...); none is named
 * `federate`, so ours never clash and a sync never touches Asterisk's files.
 */
export const SOUNDS_PREFIX = 'federate'

/** Longest prompt name: `federate/` + name + `.sln16` stays within the manifest's 255. */
export const PROMPT_NAME_MAX = 200

const SEGMENT = /^[A-Za-z0-9_-]+$/
const ALLOWED = 'letters, digits, _ and - in segments separated by /'

function describeChar (ch: string): string {
  if (ch === ' ') return 'a space'
  if (ch === '\t') return 'a tab'
  const cp = ch.codePointAt(0)!
  if (cp < 32 || cp === 127) return `a control character (U+${cp.toString(16).padStart(4, '0').toUpperCase()})`
  if (cp > 127) return `"${ch}" (U+${cp.toString(16).padStart(4, '0').toUpperCase()})`
  return `"${ch}"`
}

/** A slug of any text that passes `checkPromptName` (accents dropped, other characters -> `-`). */
export function safeName (text: string): string {
  const slug = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/\\/g, '/')
    .split('/')
    .map((s) => s.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/-{2,}/g, '-').replace(/^-+|-+$/g, ''))
    .filter((s) => s !== '')
    .join('/')
  return slug.slice(0, PROMPT_NAME_MAX).replace(/[/-]+$/, '')
}

/**
 * Refuses a prompt name that is not `segment(/segment)*` with segments of [A-Za-z0-9_-]
 * (no `..`, no leading `/`, no extension, at most PROMPT_NAME_MAX characters). The error
 * says which character is wrong and suggests a safe name.
 */
export function checkPromptName (name: string): string {
  const fail = (why: string) => {
    const suggestion = safeName(name.replace(/\.[A-Za-z0-9]{1,5}$/, ''))
    const hint = suggestion && suggestion !== name ? ` (try "${suggestion}")` : ''
    return new StorageError('FED_STORAGE_BAD_NAME', `prompt name ${JSON.stringify(name)} ${why}${hint}`)
  }
  if (typeof name !== 'string' || name === '') throw new StorageError('FED_STORAGE_BAD_NAME', 'prompt name is empty')
  if (name.length > PROMPT_NAME_MAX) throw fail(`is ${name.length} characters long, at most ${PROMPT_NAME_MAX}`)
  if (name.startsWith('/')) throw fail('starts with /: names are relative, e.g. poll/intro')
  const segments = name.split('/')
  if (segments.includes('..') || segments.includes('.')) throw fail('contains a . or .. segment')
  if (segments.some((s) => s === '')) throw fail('has an empty segment (// or a trailing /)')
  for (const segment of segments) {
    if (SEGMENT.test(segment)) continue
    const ch = [...segment].find((c) => !/[A-Za-z0-9_-]/.test(c))!
    if (ch === '.') throw fail(`contains "." : give the name without an extension (the format decides it); use ${ALLOWED}`)
    throw fail(`contains ${describeChar(ch)}: use ${ALLOWED}`)
  }
  return name
}

/** Where a prompt lives on an instance, relative to the Asterisk sounds directory. */
export function promptPath (name: string, format: PromptFormat): string {
  return `${SOUNDS_PREFIX}/${name}.${format}`
}

/** What the dialplan passes to Playback/Background for a prompt (Asterisk adds the extension). */
export function playbackName (name: string): string {
  return `${SOUNDS_PREFIX}/${name}`
}

/**
 * Refuses a manifest path an agent must not write: absolute, with `..`, backslashes, control
 * characters, or outside SOUNDS_PREFIX. The agent calls this on every path before any I/O.
 */
export function checkManifestPath (path: string, prefix = SOUNDS_PREFIX): string {
  const fail = (why: string) => new StorageError('FED_STORAGE_BAD_NAME', `manifest path ${JSON.stringify(path)} ${why}`)
  if (typeof path !== 'string' || path === '') throw fail('is empty')
  if (path.length > 255) throw fail('is longer than 255 characters')
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) throw fail('is absolute')
  if (path.includes('\\') || [...path].some((c) => c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127)) throw fail('contains a backslash or a control character')
  const segments = path.split('/')
  if (segments.some((s) => s === '..' || s === '.' || s === '')) throw fail('contains an empty, . or .. segment')
  if (!segments.every((s) => /^[A-Za-z0-9_.-]+$/.test(s))) throw fail('contains characters outside [A-Za-z0-9_.-/]')
  if (segments[0] !== prefix || segments.length < 2) throw fail(`is not under ${prefix}/`)
  if (segments.at(-1)!.startsWith('.')) throw fail('names a hidden file')
  return path
}
