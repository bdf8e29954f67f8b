// The one pino logger per process. Level from FLEET_LOG (default "info"); logs go to stderr so
// stdout stays free for command output.
import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Creates the process logger.
 * @example const log = createLogger('fleet-server'); log.info({ port }, 'listening');
 */
export function createLogger(name: string, level = process.env.FLEET_LOG ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination(2));
}

/** A logger that discards everything, for unit tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
