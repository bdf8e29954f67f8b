// Converges a desired state resource by resource, in order, and removes what an earlier desired
// state installed that a newer one dropped.
import { resourceId, ResourceStatus, type DesiredState, type Resource, type ResourceResult } from '../../common/spec/schema';
import { convergeBinary, unlinkBinary } from './binary';
import { convergeExec } from './exec';
import { convergeFile, editedSinceWritten } from './file';
import type { ReconcileOptions } from './options';
import { convergePackage, prunePackage } from './package';
import { convergeService, removeService } from './service';

const CHANGED = new Set<ResourceStatus>([ResourceStatus.Pending, ResourceStatus.Changed, ResourceStatus.Drifted]);

function converge(r: Resource, options: ReconcileOptions, restartBecause: string[]): Promise<string[]> {
  switch (r.type) {
    case 'file':
      return convergeFile(r, options);
    case 'binary':
      return convergeBinary(r, options);
    case 'package':
      return convergePackage(r, options);
    case 'service':
      return convergeService(r, options, restartBecause);
    case 'exec':
      return convergeExec(r, options);
  }
}

function changedStatus(options: ReconcileOptions): ResourceStatus {
  return options.dryRun ? ResourceStatus.Pending : options.drift ? ResourceStatus.Drifted : ResourceStatus.Changed;
}

async function outcome(id: string, options: ReconcileOptions, work: () => Promise<string[]>): Promise<ResourceResult> {
  try {
    const changes = await work();
    return { id, status: changes.length === 0 ? ResourceStatus.Ok : changedStatus(options), changes };
  } catch (err) {
    return { id, status: ResourceStatus.Failed, changes: [], error: err instanceof Error ? err.message : String(err) };
  }
}

function logResult(result: ResourceResult, options: ReconcileOptions): void {
  if (result.status === ResourceStatus.Failed || result.status === ResourceStatus.Skipped) options.log.warn(result, 'resource not converged');
  else if (result.status !== ResourceStatus.Ok) options.log.info(result, options.dryRun ? 'resource would change' : 'resource changed');
}

/**
 * Converges every resource in order. A failed resource reports why and the rest still run, except
 * services watching a file or binary that failed: those are 'skipped'. A service restarts when a
 * file path or binary name in its `watch` changed earlier in the same run (list watched
 * resources before the service). Never throws for a resource failure.
 * @example const results = await reconcile(desired, { root: '/', dryRun: true, download, stateDir, log });
 */
export async function reconcile(desired: DesiredState, options: ReconcileOptions): Promise<ResourceResult[]> {
  const statuses = new Map<string, ResourceStatus>();
  const results: ResourceResult[] = [];
  for (const r of desired.resources) {
    const id = resourceId(r);
    const watched = r.type === 'service' ? r.watch.map((w) => ({ w, status: statuses.get(`file:${w}`) ?? statuses.get(`binary:${w}`) })) : [];
    const broken = watched.filter((x) => x.status === ResourceStatus.Failed || x.status === ResourceStatus.Skipped).map((x) => x.w);
    const changed = watched.filter((x) => x.status !== undefined && CHANGED.has(x.status)).map((x) => x.w);
    const result: ResourceResult =
      broken.length > 0
        ? { id, status: ResourceStatus.Skipped, changes: [], error: `watched ${broken.join(', ')} failed` }
        : await outcome(id, options, () => converge(r, options, changed));
    logResult(result, options);
    statuses.set(id, result.status);
    results.push(result);
  }
  return results;
}

/**
 * Removes what `previous` installed that `next` no longer lists, last resource first. `others`
 * holds the resource ids other specs on this node still list: those stay. Only what fleet put
 * there goes:
 * - a file is deleted only while it still holds the content fleet wrote; one edited by hand since
 *   is left in place and reported 'skipped' with the reason;
 * - a binary is unlinked from /opt/fleet/bin (its versions stay, so a re-apply needs no download);
 * - a service is stopped and disabled (its unit file, or the agent's record of it, removed);
 * - a package is removed only when fleet installed it; one the node already had is left alone.
 * Exec steps cannot be undone and are not reported.
 */
export async function prune(previous: DesiredState, next: DesiredState, options: ReconcileOptions, others: ReadonlySet<string> = new Set()): Promise<ResourceResult[]> {
  const kept = new Set(next.resources.map(resourceId));
  const results: ResourceResult[] = [];
  for (const r of [...previous.resources].reverse()) {
    const id = resourceId(r);
    if (kept.has(id) || others.has(id)) continue;
    let work: (() => Promise<string[]>) | undefined;
    if (r.type === 'file' && r.state === 'present') {
      const edited = await editedSinceWritten(r, options).catch(() => null);
      if (edited !== null) {
        const result: ResourceResult = { id, status: ResourceStatus.Skipped, changes: [], error: edited };
        logResult(result, options);
        results.push(result);
        continue;
      }
      work = () => convergeFile({ ...r, state: 'absent' }, options);
    } else if (r.type === 'binary') work = () => unlinkBinary(r.name, options);
    else if (r.type === 'service') work = () => removeService(r.name, options);
    else if (r.type === 'package' && r.state === 'present') work = () => prunePackage(r.name, options);
    if (work === undefined) continue;
    const result = await outcome(id, options, work);
    logResult(result, options);
    results.push(result);
  }
  return results;
}
