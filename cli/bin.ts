#!/usr/bin/env node
// fleet: the operator's command line. The only place that calls process.exit.
import { main } from './main';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`fleet: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
