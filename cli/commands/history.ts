// fleet history [--spec S] [--node N] [--limit n] [--export json|md] [--out DIR]: which spec
// revision reached which node when, by whom, and how it went; exportable for a git repository.
import { Option } from 'commander';
import type { CommandModule } from '../env';
import { UsageError, UserError } from '../errors';
import { historyFiles, historyMarkdown, historyView, writeHistoryFiles } from '../history-export';
import { oneLine, printJson, printTable } from '../output';

/** What the server returns at most (its own cap). */
const ALL = 100_000;

export const history: CommandModule = (parent, env) => {
  parent
    .command('history')
    .description('deployments of spec revisions to nodes (and drift repairs), oldest first')
    .option('--spec <name>', 'only this spec')
    .option('--node <node>', 'only this node (name or id)')
    .option('--limit <n>', 'the most recent N deployments (default: 50 for the table, all for --export and --out)')
    .addOption(new Option('--export <format>', 'print everything as json ({deployments, revisions}) or md (Markdown)').choices(['json', 'md']))
    .option('--out <dir>', 'write DIR/<spec>/revision-<N>.yaml, DIR/<spec>/HISTORY.md and DIR/history.json')
    .addHelpText(
      'after',
      `
Outcomes: applied, unchanged, failed, unhealthy, rolled-back, and drift-repaired (the agent found
a resource changed by hand and put it back).

--out is meant for a git repository: the files depend only on the stored history, so running it
again rewrites them byte for byte and \`git diff\` shows just what is new. Run it without --spec
and --node to keep history.json complete:

  fleet history --out ops/fleet-history && git -C ops add fleet-history && git -C ops commit -m "fleet history"`,
    )
    .action(async (opts: { spec?: string; node?: string; limit?: string; export?: 'json' | 'md'; out?: string }) => {
      const exporting = opts.export !== undefined || opts.out !== undefined;
      if (opts.export && opts.out) throw new UsageError('use --export (to stdout) or --out DIR (to files), not both');
      let limit = exporting ? ALL : 50;
      if (opts.limit !== undefined) {
        limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive whole number');
      }
      const res = await env.client().call('listHistory', { spec: opts.spec ?? '', node: opts.node ?? '', limit });
      const view = historyView(res);
      if (opts.export === 'json') return printJson(env.io, view);
      if (opts.export === 'md') return void env.io.stdout.write(historyMarkdown(view));
      if (opts.out !== undefined) {
        const files = historyFiles(opts.out, view);
        let result;
        try {
          result = writeHistoryFiles(opts.out, files);
        } catch (err) {
          throw new UserError(`cannot write the history to ${opts.out}: ${(err as Error).message}`, 'HISTORY_WRITE', err);
        }
        for (const rel of result.written) env.io.stdout.write(`wrote ${opts.out.replace(/\/+$/, '')}/${rel}\n`);
        env.io.stdout.write(`${result.written.length} file(s) written, ${result.unchanged} already up to date\n`);
        return;
      }
      printTable(
        env.io,
        ['TIME', 'SPEC', 'REV', 'NODE', 'OUTCOME', 'BY', 'DETAIL'],
        view.deployments.map((d) => [d.at.replace(/\.\d{3}Z$/, 'Z'), d.spec, String(d.revision), d.node, d.outcome, d.actor, oneLine(d.detail, 100)]),
      );
      if (view.deployments.length === 0) env.io.stderr.write('no deployments yet\n');
    });
};
