// The one pino logger per process. Level from FLEET_LOG (default "info"); logs go to stderr so
// stdout stays free for command output. No line is longer than MAX_LOG_LINE: a longer one keeps
// its fields with long strings cut short, so no value, however big, is written whole.
import { pino, type Logger } from 'pino';
import { readEnvOrDefault } from './env';

export type { Logger };

/** The longest log line written (characters, newline included). */
export const MAX_LOG_LINE = 16 * 1024;
/** How much of each string a line over MAX_LOG_LINE keeps. */
const KEPT_PER_STRING = 1024;

/** A string cut to its first `keep` characters, saying how long it was. */
const cut = (text: string, keep: number) => (text.length > keep ? `${text.slice(0, keep)}… [${text.length} characters]` : text);

function shorten(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return cut(value, KEPT_PER_STRING);
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => shorten(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shorten(v, depth + 1)]));
}

/**
 * A JSON log line of at most `max` characters: as it is when it fits; otherwise with every long
 * string cut to a prefix (and its length) and `truncated` set to the original length; as a last
 * resort only level, time, pid, name and the start of the message.
 */
export function boundLogLine(line: string, max = MAX_LOG_LINE): string {
  if (line.length <= max) return line;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `${JSON.stringify({ msg: cut(line, 200), truncated: line.length })}\n`;
  }
  const shortened = `${JSON.stringify({ ...(shorten(entry) as object), truncated: line.length })}\n`;
  if (shortened.length <= max) return shortened;
  const { level, time, pid, name, msg } = entry;
  return `${JSON.stringify({ level, time, pid, name, msg: typeof msg === 'string' ? cut(msg, 200) : undefined, truncated: line.length })}\n`;
}

/**
 * Creates the process logger.
 * @example const log = createLogger('fleet-server'); log.info({ port }, 'listening');
 */
export function createLogger(name: string, level: string = readEnvOrDefault('FLEET_LOG')): Logger {
  return pino({ name, level, base: { pid: process.pid }, hooks: { streamWrite: (line) => boundLogLine(line) } }, pino.destination(2));
}

/** A logger that discards everything, for unit tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
