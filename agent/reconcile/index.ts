// Public surface of the agent's reconciler: converge a desired state, prune what a newer one
// dropped, run health checks, and remember per-spec desired state across restarts.
export { type CheckState, HealthMonitor } from './health';
export type { ReconcileOptions } from './options';
export { prune, reconcile } from './reconcile';
export { DesiredStore, type StoredState } from './store';
