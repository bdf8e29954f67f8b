// fleet state NODE [-o json|yaml]: where a node stands with each spec — revisions, status, every
// resource — and its health checks.
import type { CommandModule } from '../env';
import { ago, oneLine, parseOutputFormat, printStructured, printTable } from '../output';
import { checkName } from './health';
import { outputOption } from '../options';

export const state: CommandModule = (parent, env) => {
  parent
    .command('state')
    .description('a node\'s desired state: specs, revisions, resources and health checks')
    .argument('<node>', 'node name or id')
    .addOption(outputOption(['table', 'json', 'yaml'], 'table'))
    .addHelpText(
      'after',
      `
Status per spec: converged, applying, failed, or drifted (changed by hand and repaired by the
agent's periodic re-check, FLEET_AGENT_RECONCILE_INTERVAL).`,
    )
    .action(async (node: string, opts: { output: string }) => {
      const format = parseOutputFormat(opts.output, ['table', 'json', 'yaml']);
      const s = await env.client().call('getNodeState', { node });
      if (printStructured(env.io, format, s)) return;
      const out = (line = '') => env.io.stdout.write(`${line}\n`);
      out(`node ${s.nodeName} (${s.online ? 'online' : 'offline'})`);
      if (s.specs.length === 0) out('no spec has been applied to this node');
      for (const spec of s.specs) {
        const revision =
          spec.appliedRevision === spec.desiredRevision ? `revision ${spec.appliedRevision}` : `revision ${spec.appliedRevision} applied, ${spec.desiredRevision} desired`;
        const drift = spec.driftUnixMs ? `, drift repaired ${ago(spec.driftUnixMs)}` : '';
        out();
        out(`spec ${spec.spec}: ${revision}, ${spec.status}, reported ${ago(spec.reportedUnixMs)}${drift}`);
        if (spec.resources.length === 0) continue;
        printTable(
          env.io,
          ['  ID', 'STATUS', 'CHANGES/ERROR'],
          spec.resources.map((r) => [`  ${r.id}`, r.status, oneLine(r.error || r.changes.join('; '), 160)]),
        );
      }
      out();
      if (s.checks.length === 0) {
        out('no health checks');
        return;
      }
      printTable(
        env.io,
        ['NAME', 'PASSING', 'SINCE', 'OUTPUT'],
        s.checks.map((c) => [checkName(c), c.passing ? 'yes' : 'no', ago(c.sinceUnixMs), oneLine(c.output, 80)]),
      );
    });
};
