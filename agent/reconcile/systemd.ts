// Services on hosts booted with systemd (root '/' only): the agent writes
// /etc/systemd/system/NAME.service and drives it with systemctl.
import { rm } from 'node:fs/promises';
import type { ServiceResource } from '../../common/spec/schema';
import { lstatOrNull } from './disk';
import { convergeFile } from './file';
import type { ReconcileOptions } from './options';
import { runProcess } from '../../common/process-runner';
import { runChecked } from './run';

function unitPath(name: string): string {
  return `/etc/systemd/system/${name}.service`;
}

/** Quotes one ExecStart word for systemd: double quotes, with %, $, \ and " escaped. */
function quoteWord(word: string): string {
  const escaped = word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return `"${escaped}"`;
}

/** The unit written for a service given as a command. */
export function generateUnit(name: string, command: string | string[]): string {
  const argv = typeof command === 'string' ? ['/bin/sh', '-c', command] : command;
  return [
    '[Unit]',
    `Description=${name} (managed by fleet)`,
    '',
    '[Service]',
    `ExecStart=${argv.map(quoteWord).join(' ')}`,
    'Restart=always',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

async function systemctlSays(verb: 'is-active' | 'is-enabled', name: string): Promise<string> {
  return (await runProcess('systemctl', [verb, `${name}.service`])).stdout.trim();
}

/**
 * Converges a systemd service: its unit file, enablement and running state. `restartBecause`
 * names watched resources that changed in this run.
 */
export async function convergeSystemd(r: ServiceResource, options: ReconcileOptions, restartBecause: string[]): Promise<string[]> {
  const unit = `${r.name}.service`;
  const content = r.unit ?? generateUnit(r.name, r.command!);
  const unitChanges = await convergeFile({ type: 'file', path: unitPath(r.name), state: 'present', content, mode: '0644', template: false }, options);
  const changes = unitChanges.map((c) => `unit ${unitPath(r.name)}: ${c}`);
  if (unitChanges.length > 0 && !options.dryRun) await runChecked('systemctl', ['daemon-reload']);

  // A unit without an [Install] section is "static": it can be neither enabled nor disabled.
  const enablement = await systemctlSays('is-enabled', r.name);
  if (enablement !== 'static' && (enablement === 'enabled') !== r.enabled) {
    changes.push(r.enabled ? 'enable' : 'disable');
    if (!options.dryRun) await runChecked('systemctl', [r.enabled ? 'enable' : 'disable', unit]);
  }

  const active = (await systemctlSays('is-active', r.name)) === 'active';
  const action = runningAction(r.state, active, unitChanges.length > 0 ? [unitPath(r.name), ...restartBecause] : restartBecause);
  if (action === null) return changes;
  changes.push(action.change);
  if (!options.dryRun) await runChecked('systemctl', [action.verb, unit]);
  return changes;
}

function runningAction(state: ServiceResource['state'], active: boolean, restartBecause: string[]): { verb: 'start' | 'stop' | 'restart'; change: string } | null {
  if (state === 'stopped') return active ? { verb: 'stop', change: 'stop' } : null;
  if (!active) return { verb: 'start', change: 'start' };
  if (restartBecause.length > 0) return { verb: 'restart', change: `restart (${restartBecause.join(', ')} changed)` };
  return null;
}

/** Stops and disables a systemd service and removes the unit file fleet wrote. */
export async function removeSystemd(name: string, options: ReconcileOptions): Promise<string[]> {
  if (!(await lstatOrNull(unitPath(name)))) return [];
  if (!options.dryRun) {
    await runChecked('systemctl', ['disable', '--now', `${name}.service`]);
    await rm(unitPath(name));
    await runChecked('systemctl', ['daemon-reload']);
  }
  return ['stop', 'disable', `remove ${unitPath(name)}`];
}
