import { pino, type Logger } from 'pino'

export type { Logger }

/** The logger a library uses when its caller gives none. */
export const silentLogger: Logger = pino({ level: 'silent' })
