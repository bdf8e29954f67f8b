// Shell sessions on the agent: for a verified ShellCommand, open a channel to the server and
// relay it to a PTY (or to plain pipes when the operator's input is not a terminal). Output is
// flow-controlled: the PTY is paused while more than WINDOW bytes are unacknowledged.
import { spawn } from 'node:child_process';
import { userInfo } from 'node:os';
import type { Logger } from 'pino';
import type { ChannelFrame, ShellCommand } from '../proto/gen/fleet/v1/agent';
import type { AgentTransport, ChannelLink } from '../transport';
import { spawnPty } from './pty';

/** Output bytes that may be in flight (sent, not yet consumed) before the PTY is paused. */
export const WINDOW = 1 << 20;

function loginShell(): string {
  return process.env.SHELL || userInfo().shell || '/bin/sh';
}

interface Process {
  write(data: Buffer): void;
  resize(cols: number, rows: number): void;
  endInput(): void;
  pause(): void;
  resume(): void;
  kill(): void;
}

/** Runs one shell session until it ends; resolves when the channel is closed. */
export function runShell(command: ShellCommand, transport: AgentTransport, log: Logger): Promise<void> {
  return new Promise((resolve) => {
    let sent = 0;
    let acked = 0;
    let paused = false;
    let proc: Process | undefined;
    let done = false;
    let link: ChannelLink | undefined;
    const finish = (exitCode: number, reason: string) => {
      if (done) return;
      done = true;
      link?.send({ body: { $case: 'close', value: { exitCode, reason } } });
      link?.end();
      log.info({ channel: command.channelId, exitCode, reason: reason || undefined }, 'shell ended');
      resolve();
    };
    const output = (frame: (data: Buffer) => ChannelFrame) => (chunk: Buffer | string) => {
      const data = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      sent += data.length;
      link?.send(frame(data));
      if (!paused && sent - acked > WINDOW) {
        paused = true;
        proc?.pause();
      }
    };
    link = transport.openChannel({
      onFrame: (frame) => {
        switch (frame.body?.$case) {
          case 'data':
            proc?.write(Buffer.from(frame.body.value));
            return;
          case 'resize':
            proc?.resize(frame.body.value.cols, frame.body.value.rows);
            return;
          case 'ack':
            acked = Math.max(acked, Number(frame.body.value));
            if (paused && sent - acked <= WINDOW / 2) {
              paused = false;
              proc?.resume();
            }
            return;
          case 'eof':
            proc?.endInput();
            return;
          case 'close':
            proc?.kill();
            finish(-1, frame.body.value.reason || 'closed by the server');
            return;
          default:
            return;
        }
      },
      onClose: (error) => {
        proc?.kill();
        finish(-1, error?.message ?? 'channel closed');
      },
    });
    link.send({ body: { $case: 'open', value: { channelId: command.channelId } } });
    const [file, ...args] = command.argv.length > 0 ? command.argv : [loginShell(), ...(command.pty ? ['-l'] : [])];
    const env = { ...process.env, TERM: command.term || 'xterm-256color' };
    try {
      if (command.pty) {
        const pty = spawnPty(file!, args, { cols: command.cols || 80, rows: command.rows || 24, env, cwd: userInfo().homedir || '/' });
        pty.onData(output((data) => ({ body: { $case: 'data', value: data } })));
        pty.onExit(({ exitCode, signal }) => finish(signal ? 128 + signal : exitCode, ''));
        proc = {
          // Bytes as they came: a character split across two frames must not be decoded half by half.
          write: (d) => pty.write(d),
          resize: (c, r) => c > 0 && r > 0 && pty.resize(c, r),
          endInput: () => pty.write('\x04'),
          pause: () => pty.pause(),
          resume: () => pty.resume(),
          kill: () => pty.kill(),
        };
      } else {
        const child = spawn(file!, args, { env, stdio: ['pipe', 'pipe', 'pipe'], cwd: userInfo().homedir || '/' });
        child.stdout.on('data', output((data) => ({ body: { $case: 'data', value: data } })));
        child.stderr.on('data', output((data) => ({ body: { $case: 'stderr', value: data } })));
        child.stdin.on('error', () => {});
        child.on('error', (err) => finish(127, err.message));
        child.on('close', (code, signal) => finish(code ?? 128, signal ? `killed by ${signal}` : ''));
        proc = {
          write: (d) => child.stdin.write(d),
          resize: () => {},
          endInput: () => child.stdin.end(),
          pause: () => {
            child.stdout.pause();
            child.stderr.pause();
          },
          resume: () => {
            child.stdout.resume();
            child.stderr.resume();
          },
          kill: () => child.kill('SIGHUP'),
        };
      }
    } catch (err) {
      finish(127, `cannot start ${file}: ${(err as Error).message}`);
    }
  });
}
