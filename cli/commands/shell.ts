// fleet shell NODE [-- CMD…]: a shell (or command) on a node. With a terminal: a real PTY there,
// raw mode here, the size from the first byte and on every SIGWINCH; keys like Ctrl-C go to the
// remote side. Without one (pipes): plain stdin/stdout/stderr. The remote exit code is ours.
import { spawnSync } from 'node:child_process';
import type { ServiceError } from '@grpc/grpc-js';
import type { ShellServerFrame } from '../../proto/gen/fleet/v1/control';
import type { CommandModule } from '../env';
import { UserError } from '../errors';

/** Acknowledge consumed output at least this often (bytes), so the agent never stalls. */
const ACK_EVERY = 64 * 1024;

export const shell: CommandModule = (parent, env) => {
  parent
    .command('shell')
    .description('open a shell on a node (or run a command after --), recorded for playback')
    .argument('<node>', 'node name or id')
    .addHelpText('after', '\nExamples:\n  fleet shell web-1\n  fleet shell web-1 -- top\n  printf \'uptime\\n\' | fleet shell web-1\n\nThe exit status is the remote one.')
    .action(async (node: string) => {
      const stdin = process.stdin;
      const stdout = process.stdout;
      const tty = stdin.isTTY === true && stdout.isTTY === true;
      const argv = env.trailing ?? [];
      const size = () => ({ cols: stdout.columns || 80, rows: stdout.rows || 24 });
      const client = env.client();
      const call = await client.shell({ node, size: size(), argv, pty: tty, term: process.env.TERM || 'xterm-256color' });
      let consumed = 0;
      let acked = 0;
      let ackScheduled = false;
      const ack = () => {
        ackScheduled = false;
        if (consumed - acked <= 0) return;
        acked = consumed;
        call.write({ body: { $case: 'ack', value: consumed } });
      };
      const consumedBytes = (n: number) => {
        consumed += n;
        if (consumed - acked >= ACK_EVERY) ack();
        else if (!ackScheduled) {
          ackScheduled = true;
          setTimeout(ack, 20);
        }
      };
      const onResize = () => call.write({ body: { $case: 'resize', value: size() } });
      const onInput = (data: Buffer) => call.write({ body: { $case: 'input', value: data } });
      const onEnd = () => call.write({ body: { $case: 'eof', value: true } });
      const restore = () => {
        process.off('SIGWINCH', onResize);
        stdin.off('data', onInput);
        stdin.off('end', onEnd);
        if (tty) stdin.setRawMode(false);
        stdin.pause();
      };

      const code = await new Promise<number>((resolve, reject) => {
        let exitCode: number | undefined;
        call.on('data', (frame: ShellServerFrame) => {
          const b = frame.body;
          if (!b) return;
          if (b.$case === 'started') {
            if (tty) {
              stdin.setRawMode(true);
              // libuv's raw mode keeps output processing (ONLCR), so a bare LF from the node would
              // return the cursor too. Off, as ssh has it; setRawMode(false) restores the original.
              spawnSync('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] });
              process.on('SIGWINCH', onResize);
            }
            stdin.on('data', onInput);
            stdin.on('end', onEnd);
            stdin.resume();
          } else if (b.$case === 'output' || b.$case === 'errorOutput') {
            const data = Buffer.from(b.value);
            (b.$case === 'output' ? stdout : process.stderr).write(data, () => consumedBytes(data.length));
          } else if (b.$case === 'exit') {
            exitCode = b.value.exitCode;
            if (exitCode < 0) env.io.stderr.write(`${tty ? '\r\n' : ''}fleet: shell ended: ${b.value.reason || 'unknown reason'}\n`);
          }
        });
        call.on('error', (err: ServiceError) => reject(client.toError(err)));
        call.on('end', () => (exitCode === undefined ? reject(new UserError('the server ended the shell without an exit status')) : resolve(exitCode)));
      }).finally(restore);
      env.exitCode = code < 0 ? 1 : code;
    });
};
