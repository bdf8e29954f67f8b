// fleet sessions list | play ID
import type { Command } from 'commander';
import { formatDuration, parseDuration } from '../../../common/duration';
import { parseCast, playCast } from '../../../common/asciicast';
import type { CliEnv, CommandModule } from '../../env';
import { UsageError, UserError } from '../../errors';
import { ago, parseOutputFormat, printStructured, printTable } from '../../output';
import { outputOption } from '../../options';

async function fetchRecording(env: CliEnv, id: string): Promise<string> {
  const client = env.client();
  const stream = await client.getRecording(id);
  return await new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: { data: Buffer }) => chunks.push(Buffer.from(c.data)));
    stream.on('error', (err) => reject(client.toError(err)));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

const list = (sessions: Command, env: CliEnv) =>
  sessions
    .command('list')
    .description('recorded shell sessions, newest first')
    .option('--node <node>', 'only this node')
    .option('--limit <n>', 'how many', '20')
    .addOption(outputOption(['table', 'json', 'yaml'], 'table'))
    .action(async (opts: { node?: string; limit: string; output: string }) => {
      const format = parseOutputFormat(opts.output, ['table', 'json', 'yaml']);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive whole number');
      const { sessions: rows } = await env.client().call('listSessions', { limit, node: opts.node ?? '' });
      if (printStructured(env.io, format, rows)) return;
      printTable(
        env.io,
        ['ID', 'NODE', 'USER', 'FROM', 'STARTED', 'DURATION', 'EXIT', 'OUTPUT'],
        rows.map((s) => [
          s.id,
          s.nodeName,
          s.user,
          s.source,
          ago(s.startedUnixMs),
          s.endedUnixMs ? formatDuration(s.endedUnixMs - s.startedUnixMs) : 'open',
          s.endedUnixMs ? (s.exitCode >= 0 ? String(s.exitCode) : s.endReason || '-') : '-',
          `${s.outputBytes} B`,
        ]),
      );
    });

const playCmd = (sessions: Command, env: CliEnv) =>
  sessions
    .command('play')
    .description('replay a session in this terminal (or print its asciicast file with --raw)')
    .argument('<id>', 'session id')
    .option('--idle-time-limit <duration>', 'never pause longer than this', '2s')
    .option('--speed <factor>', 'play this many times faster', '1')
    .option('--raw', 'print the asciicast v2 file instead (for asciinema and other players)')
    .action(async (id: string, opts: { idleTimeLimit: string; speed: string; raw?: boolean }) => {
      const speed = Number(opts.speed);
      if (!(speed > 0)) throw new UsageError('--speed must be a positive number');
      const idleLimitMs = parseDuration(opts.idleTimeLimit);
      const text = await fetchRecording(env, id);
      if (opts.raw) {
        env.io.stdout.write(text);
        return;
      }
      let cast;
      try {
        cast = parseCast(text);
      } catch (err) {
        throw new UserError(`session ${id}: ${(err as Error).message}`);
      }
      await playCast(cast.events, { output: (t) => env.io.stdout.write(t) }, { idleLimitMs, speed });
    });

export const sessions: CommandModule = (parent, env) => {
  const cmd = parent.command('sessions').description('recorded shell sessions');
  list(cmd, env);
  playCmd(cmd, env);
};
