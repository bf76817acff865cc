import { existsSync } from 'node:fs'
import { isAbsolute } from 'node:path'

// Checks that the prompts a step asks for are on the instance's disk, the way Playback()
// would find them. Absolute paths are checked as given: they are what the agent's promptPath
// made of a flow's prompt name (`<FEDERATE_SOUNDS_DIR>/<name>`, FEDERATE_SOUNDS_DIR being the
// `federate/` folder audio sync fills), so the check follows the agent's rule by construction.
// Relative names are stock Asterisk sounds (beep, an-error-has-occurred), assumed present.
// Results are cached for a moment either way: audio sync may bring a file or remove it.

const EXTENSIONS = ['wav', 'gsm', 'ulaw', 'alaw', 'sln', 'sln16', 'g722', 'wav16']
const RECHECK_MS = 2000

export interface PromptChecker {
  /** True when Playback would find the prompt. */
  exists: (prompt: string) => boolean
}

export function createPromptChecker (soundsDir?: string): PromptChecker {
  const present = new Map<string, number>()
  const missingAt = new Map<string, number>()
  const found = (base: string): boolean => existsSync(base) || EXTENSIONS.some((e) => existsSync(`${base}.${e}`))
  return {
    exists (prompt) {
      if (!soundsDir) return true
      const seen = present.get(prompt)
      if (seen !== undefined && Date.now() - seen < RECHECK_MS) return true
      const last = missingAt.get(prompt)
      if (last !== undefined && Date.now() - last < RECHECK_MS) return false
      const ok = isAbsolute(prompt) ? found(prompt) : true
      if (ok) {
        if (present.size > 10000) present.clear()
        present.set(prompt, Date.now())
        missingAt.delete(prompt)
      } else {
        present.delete(prompt)
        if (missingAt.size > 10000) missingAt.clear()
        missingAt.set(prompt, Date.now())
      }
      return ok
    },
  }
}
