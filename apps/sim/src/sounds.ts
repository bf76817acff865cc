import { existsSync } from 'node:fs'
import { isAbsolute } from 'node:path'

// Checks that the prompts a step asks for are on the instance's disk, the way Playback()
// would find them. Absolute paths (the agent's FEDERATE_SOUNDS_DIR) are checked as given;
// relative names are stock Asterisk sounds (beep, an-error-has-occurred), assumed present.
// Results are cached; a missing file is looked at again after a moment, since the agent's
// audio sync may bring it.

const EXTENSIONS = ['wav', 'gsm', 'ulaw', 'alaw', 'sln', 'sln16', 'g722', 'wav16']
const RECHECK_MS = 2000

export interface PromptChecker {
  /** True when Playback would find the prompt. */
  exists: (prompt: string) => boolean
}

export function createPromptChecker (soundsDir?: string): PromptChecker {
  const present = new Set<string>()
  const missingAt = new Map<string, number>()
  const found = (base: string): boolean => existsSync(base) || EXTENSIONS.some((e) => existsSync(`${base}.${e}`))
  return {
    exists (prompt) {
      if (!soundsDir) return true
      if (present.has(prompt)) return true
      const last = missingAt.get(prompt)
      if (last !== undefined && Date.now() - last < RECHECK_MS) return false
      const ok = isAbsolute(prompt) ? found(prompt) : true
      if (ok) {
        present.add(prompt)
        missingAt.delete(prompt)
      } else {
        if (missingAt.size > 10000) missingAt.clear()
        missingAt.set(prompt, Date.now())
      }
      return ok
    },
  }
}
