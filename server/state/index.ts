// Public surface of desired state on the server: spec revisions and signed apply commands, the
// rollout engine, hosted files (and the blob store under them) and webhooks.
export { DesiredStateService } from './desired-state';
export { HostedFiles } from './hosted-files';
export { LocalBlobs } from './local-blobs';
export { SHA256_HEX, UploadCheck, type Blob, type BlobStore } from './blob-store';
export { RolloutEngine } from './rollouts';
export { Webhooks } from './webhooks';
