// Where the CLI writes, so commands can be run in-process by tests.
export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  /** Where `-f -` reads a spec from (process.stdin for the real CLI; absent in most tests). */
  stdin?: AsyncIterable<Buffer | string>;
}

export const processIo: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
