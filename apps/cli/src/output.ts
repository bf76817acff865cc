// How every command reports: plain lines for people, one JSON document with --json, and exit
// codes scripts can rely on (0 ok, 1 failure, 2 bad usage or input, 3 a dependency is unreachable).

export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, UNAVAILABLE: 3 } as const

export class CliError extends Error {
  constructor (message: string, readonly exitCode: number = EXIT.FAILURE, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CliError'
  }
}

/** Prints a result: JSON when asked, else the human text. */
export function print (json: boolean | undefined, value: unknown, human: () => string): void {
  process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : human() + '\n')
}

/** Prints an error the way a person can act on it and exits with its code. */
export function fail (err: unknown): never {
  const code = err instanceof CliError ? err.exitCode : EXIT.FAILURE
  const message = err instanceof Error ? err.message : String(err)
  process.stderr.write(`federate: ${message}\n`)
  if (process.env.FEDERATE_DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n')
  process.exit(code)
}
