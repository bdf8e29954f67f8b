// Pseudo-terminals for the agent (node-pty). In the standalone executable node-pty's native part
// comes from an embedded asset (see agent/native.ts and scripts/build-agent.mjs).
import * as pty from 'node-pty';

export type { IPty } from 'node-pty';

/**
 * Spawns `file args` on a new PTY of the given size. Its TERM is `env.TERM` (node-pty's `name`
 * would override it), xterm-256color when that is unset. Input and output are UTF-8 (the PTY
 * gets IUTF8, so erasing in canonical mode removes whole characters).
 */
export function spawnPty(file: string, args: string[], options: { cols: number; rows: number; cwd?: string; env?: NodeJS.ProcessEnv }): pty.IPty {
  const env = options.env ?? process.env;
  return pty.spawn(file, args, { name: env.TERM || 'xterm-256color', cols: options.cols, rows: options.rows, cwd: options.cwd ?? process.cwd(), env });
}

/** Runs a short command on a PTY and returns what it printed: a self-check that PTYs work here. */
export function ptySelfCheck(timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawnPty('/bin/sh', ['-c', 'printf "pty ok: %s\\n" "$(tty)"'], { cols: 80, rows: 24 });
    let out = '';
    const timer = setTimeout(() => {
      p.kill();
      reject(new Error('the PTY produced no exit within the time limit'));
    }, timeoutMs);
    p.onData((d) => (out += d));
    p.onExit(({ exitCode }) => {
      clearTimeout(timer);
      if (exitCode === 0) resolve(out.trim());
      else reject(new Error(`the PTY command exited with ${exitCode}`));
    });
  });
}
