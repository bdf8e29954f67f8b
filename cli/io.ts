// Where the CLI writes, so commands can be run in-process by tests.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  /** Where `-f -` reads a spec from (process.stdin for the real CLI; absent in most tests). */
  stdin?: AsyncIterable<Buffer | string> & { isTTY?: boolean };
}

export const processIo: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };

/**
 * Asks a question on stderr and reads one line from stdin; resolves null when stdin ends first
 * (Ctrl-D). Used only when both are terminals.
 */
export async function promptLine(io: CliIo, question: string): Promise<string | null> {
  if (!io.stdin) return null;
  io.stderr.write(question);
  const lines = createInterface({ input: io.stdin as Readable, crlfDelay: Infinity, terminal: false });
  try {
    for await (const line of lines) return line;
    return null;
  } finally {
    lines.close();
  }
}
