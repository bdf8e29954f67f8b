#!/usr/bin/env node
// fleet: the operator's command line. The only place that calls process.exit.
import { main } from './main';

let finished = false;
// Node exits, with code 0, once nothing is left to wait for, even while a command still waits
// for a server answer that can no longer come (grpc-js leaves a call pending forever when its own
// HTTP/2 layer refuses the answer, as with a 100 KB error message). That is a failure, never a
// silent success.
process.on('beforeExit', () => {
  if (finished) return;
  finished = true;
  process.stderr.write('fleet: the connection to the server ended without an answer (the command did not finish; see the server log)\n');
  process.exitCode = 1;
});

main(process.argv.slice(2)).then(
  (code) => {
    finished = true;
    process.exitCode = code;
  },
  (err: unknown) => {
    finished = true;
    process.stderr.write(`fleet: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
