// Public surface of desired state on the server: spec revisions and signed apply commands, the
// rollout engine, hosted files and webhooks.
export { DesiredStateService } from './desired-state';
export { HostedFiles } from './hosted-files';
export { RolloutEngine } from './rollouts';
export { Webhooks } from './webhooks';
