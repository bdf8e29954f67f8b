// The `service` resource: picks the backend — systemd on a real root booted with systemd, else
// the agent's own supervisor — and hands the resource to it.
import { existsSync } from 'node:fs';
import type { ServiceResource } from '../../common/spec/schema';
import type { ReconcileOptions } from './options';
import { convergeSupervised, stopSupervised } from './supervised';
import { convergeSystemd, removeSystemd } from './systemd';

function usesSystemd(options: ReconcileOptions): boolean {
  return options.root === '/' && existsSync('/run/systemd/system');
}

/** Converges one service; `restartBecause` names watched resources that changed in this run. */
export function convergeService(r: ServiceResource, options: ReconcileOptions, restartBecause: string[]): Promise<string[]> {
  return usesSystemd(options) ? convergeSystemd(r, options, restartBecause) : convergeSupervised(r, options, restartBecause);
}

/** Stops and disables a service a spec no longer lists. */
export function removeService(name: string, options: ReconcileOptions): Promise<string[]> {
  return usesSystemd(options) ? removeSystemd(name, options) : stopSupervised(name, options);
}
