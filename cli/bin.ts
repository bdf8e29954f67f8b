#!/usr/bin/env node
// fleet: the operator's command line. The only place that calls process.exit.
import { main } from './main';

/**
 * The exit status of a process killed by SIGPIPE (128 + 13), which is what `git log | head` and
 * coreutils give. Node ignores SIGPIPE, so a reader that goes away (`fleet nodes | head -3`) shows
 * up as an EPIPE error on stdout instead: stop quietly with the same status.
 */
const BROKEN_PIPE_EXIT = 141;

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(BROKEN_PIPE_EXIT);
  throw err;
});
// Nowhere left to report anything: ignore a closed stderr rather than crash.
process.stderr.on('error', () => {});

/**
 * Ends the process once stdout has taken everything written to it. Exiting (rather than letting
 * the event loop drain) matters when a server never completed the handshake: grpc-js keeps that
 * half-open connection, and the process would wait on it after the error was reported.
 */
function exit(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

let finished = false;
// Node would exit, with code 0, once nothing is left to wait for, even while a command still waits
// for a server answer that can no longer come (grpc-js leaves a call pending for ever when its own
// HTTP/2 layer refuses the answer, as with a 100 KB error message). That is a failure, never a
// silent success.
process.on('beforeExit', () => {
  if (finished) return;
  finished = true;
  process.stderr.write('fleet: the connection to the server ended without an answer (the command did not finish; see the server log)\n');
  exit(1);
});

main(process.argv.slice(2)).then(
  (code) => {
    finished = true;
    exit(code);
  },
  (err: unknown) => {
    finished = true;
    process.stderr.write(`fleet: ${String(err)}\n`);
    exit(1);
  },
);
